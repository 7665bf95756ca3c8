// A time-bounded fuzzer over every BGP decoder and over a live session's input: valid messages
// (arbitraries.ts) mutated byte by byte, truncated or extended, plus raw random bytes. Every
// decoder must return or throw a BgpError (the NOTIFICATION to send), never anything else, and a
// session fed any byte stream must end Established or with exactly one NOTIFICATION sent.
// Bounded per CI run: FUZZ_MS per target (the whole file stays near 20 s).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';
import {
  BgpError,
  BgpSession,
  checkHeader,
  decode,
  decodeAttributes,
  decodeCapabilities,
  decodeHeader,
  decodeKeepalive,
  decodeNotification,
  decodeOpen,
  decodePrefixes,
  decodeRouteRefresh,
  decodeUpdate,
  MessageReader,
  toBuffer,
  type CodecContext,
} from '../../../protocols/bgp/index.js';
import { message } from './arbitraries.js';
import { FakeSocket, routerOpen } from './fake-socket.js';

const FUZZ_MS = Number(process.env.HERALD_FUZZ_MS ?? 1400);
const wide: CodecContext = { fourByteAs: true, maxMessageLength: 65535 };
const narrow: CodecContext = { fourByteAs: false, maxMessageLength: 4096 };
const budget = { numRuns: 10_000_000, interruptAfterTimeLimit: FUZZ_MS };

/** A valid message's bytes with a few edits: byte flips, a truncation or extension, the length field kept or fixed. */
const mutated: fc.Arbitrary<Buffer> = fc
  .tuple(
    message(wide).map((m) => toBuffer(m, wide)),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    fc.integer({ min: -20, max: 20 }),
    fc.boolean(),
  )
  .map(([buf, edits, resize, fixLength]) => {
    let b = Buffer.from(buf);
    for (const [at, v] of edits) b[19 + (at % Math.max(1, b.length - 19))] = v;
    if (resize < 0) b = b.subarray(0, Math.max(19, b.length + resize));
    else if (resize > 0) b = Buffer.concat([b, Buffer.alloc(resize, resize)]);
    if (fixLength && b.length <= 65535) b.writeUInt16BE(b.length, 16);
    return b;
  });
const random = fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.from(a));
const input = fc.oneof({ arbitrary: mutated, weight: 4 }, { arbitrary: random, weight: 1 });

/** Returns, or throws a BgpError; one naming a byte offset must name one inside `input`. */
function onlyBgpError(fn: () => unknown, input?: Buffer): void {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof BgpError)) throw e;
    if (input !== undefined && e.offset !== undefined && (e.offset < 0 || e.offset > input.length)) throw new Error(`offset ${e.offset} outside the ${input.length}-byte input: ${e.message}`);
  }
}

const decoders: Array<[string, (b: Buffer) => unknown]> = [
  ['decode (4-octet AS, extended)', (b) => decode(b, 0, wide)],
  ['decode (2-octet AS, 4096)', (b) => decode(b, 0, narrow)],
  ['checkHeader / decodeHeader', (b) => (checkHeader(b, 0, 65535), decodeHeader(b, 0, 4096))],
  ['decodeOpen', (b) => decodeOpen(b, 0)],
  ['decodeUpdate', (b) => decodeUpdate(b, 0, narrow)],
  ['decodeNotification', (b) => decodeNotification(b, 0)],
  ['decodeKeepalive and decodeRouteRefresh', (b) => (onlyBgpError(() => decodeKeepalive(b, 0)), decodeRouteRefresh(b, 0))],
  ['decodeAttributes', (b) => (decodeAttributes(b, 0, b.length, wide), decodeAttributes(b, 0, b.length, narrow))],
  ['decodeCapabilities', (b) => decodeCapabilities(b, 0, b.length)],
  ['decodePrefixes', (b) => (onlyBgpError(() => decodePrefixes(b, 0, b.length, 'ipv4', 10)), decodePrefixes(b, 0, b.length, 'ipv6', 10))],
];

describe('fuzz: every decoder returns or throws BgpError', () => {
  for (const [name, fn] of decoders) {
    it(name, () => {
      fc.assert(fc.property(input, (b) => onlyBgpError(() => fn(b), b)), budget);
    });
  }

  it('MessageReader over random chunkings of mutated streams', () => {
    fc.assert(
      fc.property(fc.array(input, { maxLength: 5 }), fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }), (msgs, cuts) => {
        const stream = Buffer.concat(msgs);
        const r = new MessageReader(65535);
        onlyBgpError(() => {
          let o = 0;
          for (let i = 0; o < stream.length; i++) {
            const n = cuts[i % cuts.length];
            r.push(stream.subarray(o, o + n));
            o += n;
            for (let m = r.next(); m; m = r.next()) onlyBgpError(() => decode(m, 0, wide));
          }
        });
      }),
      budget,
    );
  });
});

describe('fuzz: a session fed any byte stream', () => {
  for (const state of ['OpenSent', 'OpenConfirm', 'Established'] as const) {
    it(`in ${state}: never throws; stays up or sends exactly one NOTIFICATION and closes`, () => {
      fc.assert(
        fc.property(fc.array(input, { minLength: 1, maxLength: 4 }), (msgs) => {
          const clock = new ManualClock();
          let socket: FakeSocket | undefined;
          const s = new BgpSession(
            { localAs: 64512, peerAs: 65001, peerAddress: '192.0.2.1' },
            {
              clock,
              connect: () => (socket = new FakeSocket()),
              random: () => 0.5,
            },
          );
          const sent: number[] = [];
          s.on('notification', (n) => n.direction === 'sent' && sent.push(n.code));
          s.start();
          socket!.connect();
          if (state !== 'OpenSent') socket!.receive(routerOpen());
          if (state === 'Established') socket!.receive({ type: 'keepalive' });
          socket!.take();
          for (const m of msgs) socket!.receive(m);
          expect(sent.length).toBeLessThanOrEqual(1);
          if (sent.length === 1) expect(socket!.closed).toBe(true);
          if (!socket!.closed) expect(['OpenSent', 'OpenConfirm', 'Established']).toContain(s.state);
        }),
        budget,
      );
    });
  }
});
