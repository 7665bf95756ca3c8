// RFC 8654 extended messages: the capability, the length rules per message type, the encoder at
// 65,535 bytes, and what a session sends and accepts with and without the capability negotiated.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  BgpError,
  checkHeader,
  compileAttributes,
  decode,
  decodeCapabilities,
  encodeCapability,
  localOpen,
  MAX_EXTENDED_MESSAGE_LENGTH,
  MAX_MESSAGE_LENGTH,
  MessageReader,
  negotiate,
  Prefix,
  toBuffer,
  UpdateEncoder,
  type BgpMessage,
  type BgpSessionConfig,
  type CodecContext,
  type NotificationMessage,
  type PathAttributes,
  type UpdateMessage,
} from '../../../protocols/bgp/index.js';
import { fakeSession, routerOpen } from './fake-socket.js';

const EXT: CodecContext = { fourByteAs: true, maxMessageLength: MAX_EXTENDED_MESSAGE_LENGTH };
const v4Attrs: PathAttributes = { origin: 0, asPath: [{ type: 2, asns: [65001] }], nextHop: '192.0.2.1' };

function thrown(f: () => unknown): BgpError {
  try {
    f();
  } catch (e) {
    if (e instanceof BgpError) return e;
    throw e;
  }
  throw new Error('expected a BgpError');
}

/** A header of the given length and type followed by that many bytes (zeros). */
function message(length: number, type: number): Buffer {
  const b = Buffer.alloc(Math.max(length, 19));
  b.fill(0xff, 0, 16);
  b.writeUInt16BE(length, 16);
  b[18] = type;
  return b;
}

function decodeAll(buf: Buffer, ctx: CodecContext): UpdateMessage[] {
  const out: UpdateMessage[] = [];
  for (let o = 0; o < buf.length; o += buf.readUInt16BE(o + 16)) out.push(decode(buf, o, ctx) as UpdateMessage);
  return out;
}

describe('extended message capability (code 6)', () => {
  it('encodes as 06 00 and decodes back; any other length is an OPEN error', () => {
    const buf = Buffer.alloc(2);
    expect(encodeCapability({ kind: 'extended-message' }, buf, 0)).toBe(2);
    expect(buf.toString('hex')).toBe('0600');
    expect(decodeCapabilities(buf, 0, 2)).toEqual([{ kind: 'extended-message' }]);
    expect(thrown(() => decodeCapabilities(Buffer.from('060100', 'hex'), 0, 3))).toMatchObject({ code: 2, subcode: 0 });
  });

  it('is negotiated only when both OPENs carry it', () => {
    const check = (ours: boolean, theirs: boolean): boolean =>
      negotiate(routerOpen({ extra: theirs ? [{ kind: 'extended-message' }] : [] }), {
        localAs: 64512,
        peerAs: 65001,
        localRouterId: 1,
        holdTime: 90,
        ours: localOpen({ localAs: 64512, holdTime: 90, routerId: 1, extendedMessages: ours }),
      }).extendedMessages;
    expect([check(true, true), check(true, false), check(false, true), check(false, false)]).toEqual([true, false, false, false]);
  });
});

describe('extended next hop capability (code 5, RFC 8950): the codec', () => {
  it('encodes IPv4 unicast via IPv6 as 05 06 0001 0001 0002 and decodes it back; a length not a multiple of 6 is an OPEN error', () => {
    const cap = { kind: 'extended-next-hop' as const, families: [{ afi: 1, safi: 1, nextHopAfi: 2 }] };
    const buf = Buffer.alloc(8);
    expect(encodeCapability(cap, buf, 0)).toBe(8);
    expect(buf.toString('hex')).toBe('0506000100010002');
    expect(decodeCapabilities(buf, 0, 8)).toEqual([cap]);
    expect(thrown(() => decodeCapabilities(Buffer.from('050400010001', 'hex'), 0, 6))).toMatchObject({ code: 2, subcode: 0 });
    // Offered only when configured (unnumbered sessions): see extended-next-hop.test.ts.
    expect(localOpen({ localAs: 64512, holdTime: 90, routerId: 1, extendedMessages: true }).capabilities.some((c) => c.kind === 'extended-next-hop')).toBe(false);
  });
});

describe('message length limits (RFC 4271 §6.1, RFC 8654 §4)', () => {
  it('UPDATE: up to 4096 without the capability, up to 65535 with it; one more is Bad Message Length with the length as data', () => {
    expect(checkHeader(message(4096, 2), 0).length).toBe(4096);
    expect(thrown(() => checkHeader(message(4097, 2), 0))).toMatchObject({ code: 1, subcode: 2, data: Buffer.from([0x10, 0x01]) });
    expect(checkHeader(message(4097, 2), 0, MAX_EXTENDED_MESSAGE_LENGTH).length).toBe(4097);
    expect(checkHeader(message(65535, 2), 0, MAX_EXTENDED_MESSAGE_LENGTH).length).toBe(65535);
  });

  it('OPEN stays within 4096 even with extended messages; KEEPALIVE is exactly 19', () => {
    expect(thrown(() => checkHeader(message(4097, 1), 0, MAX_EXTENDED_MESSAGE_LENGTH))).toMatchObject({ code: 1, subcode: 2 });
    expect(thrown(() => checkHeader(message(20, 4), 0, MAX_EXTENDED_MESSAGE_LENGTH))).toMatchObject({ code: 1, subcode: 2 });
    // NOTIFICATION may be extended once negotiated (RFC 8654 excepts only OPEN and KEEPALIVE).
    expect(checkHeader(message(5000, 3), 0, MAX_EXTENDED_MESSAGE_LENGTH).length).toBe(5000);
  });

  it('property: a header is accepted exactly when 19 <= length <= the limit (and its type allows it)', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), fc.constantFrom(MAX_MESSAGE_LENGTH, MAX_EXTENDED_MESSAGE_LENGTH), fc.constantFrom(1, 2, 3), (length, max, type) => {
        const min = { 1: 29, 2: 23, 3: 21 }[type] as number;
        const limit = type === 1 ? MAX_MESSAGE_LENGTH : max;
        const ok = length >= min && length <= limit;
        let accepted = true;
        try {
          checkHeader(message(length, type), 0, max);
        } catch (e) {
          expect(e).toBeInstanceOf(BgpError);
          expect(e).toMatchObject({ code: 1, subcode: 2 });
          accepted = false;
        }
        expect(accepted).toBe(ok);
      }),
      { numRuns: 300 },
    );
  });

  it('MessageReader frames a 65535-byte UPDATE arriving in any chunking', () => {
    const compiled = compileAttributes(v4Attrs, 'ipv4', EXT);
    const enc = new UpdateEncoder(MAX_EXTENDED_MESSAGE_LENGTH);
    const hosts = Array.from({ length: 20000 }, (_, i) => Prefix.v4(0xc6120000 + i, 32));
    const buf = Buffer.alloc(1 << 18);
    const n = enc.encodeAnnounce(compiled, hosts, 0, hosts.length, buf, 0);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 70000 }), { minLength: 1, maxLength: 8 }), (cuts) => {
        const reader = new MessageReader(MAX_EXTENDED_MESSAGE_LENGTH);
        const seen: number[] = [];
        let o = 0;
        for (let i = 0; o < n; i++) {
          const end = Math.min(n, o + cuts[i % cuts.length]);
          reader.push(buf.subarray(o, end));
          o = end;
          for (let m = reader.next(); m; m = reader.next()) seen.push(m.length);
        }
        expect(seen.reduce((a, b) => a + b, 0)).toBe(n);
        expect(Math.max(...seen)).toBeLessThanOrEqual(MAX_EXTENDED_MESSAGE_LENGTH);
      }),
      { numRuns: 50 },
    );
  });
});

describe('UpdateEncoder at 65535 bytes', () => {
  it('property: every prefix round-trips, every message is <= the limit, and every message but the last is full', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16000 }),
        fc.integer({ min: 4096, max: MAX_EXTENDED_MESSAGE_LENGTH }),
        fc.constantFrom(24, 32),
        fc.boolean(),
        (count, max, len, withdraw) => {
          const ctx: CodecContext = { fourByteAs: true, maxMessageLength: max };
          const prefixes = Array.from({ length: count }, (_, i) => Prefix.v4((0xc6120000 + (len === 32 ? i : i << 8)) >>> 0, len));
          const enc = new UpdateEncoder(max);
          const buf = Buffer.alloc(count * 5 + 64 * (Math.ceil(count / 700) + 1));
          const n = withdraw
            ? enc.encodeWithdraw('ipv4', prefixes, 0, count, buf, 0)
            : enc.encodeAnnounce(compileAttributes(v4Attrs, 'ipv4', ctx), prefixes, 0, count, buf, 0);
          expect(enc.next).toBe(count);
          const msgs = decodeAll(buf.subarray(0, n), ctx);
          const got = msgs.flatMap((m) => (withdraw ? m.withdrawn : m.nlri)).map(String);
          expect(got).toEqual(prefixes.map(String));
          const perPrefix = len === 32 ? 5 : 4;
          let o = 0;
          msgs.forEach((_, i) => {
            const length = buf.readUInt16BE(o + 16);
            expect(length).toBeLessThanOrEqual(max);
            if (i < msgs.length - 1) expect(length + perPrefix).toBeGreaterThan(max);
            o += length;
          });
        },
      ),
      { numRuns: 30 },
    );
  });

  it('packs 13,099 /32s into one 65535-byte UPDATE (about 16x the 4096-byte figure)', () => {
    const compiled = compileAttributes(v4Attrs, 'ipv4', EXT);
    const hosts = Array.from({ length: 30000 }, (_, i) => Prefix.v4(0xc6120000 + i, 32));
    const enc = new UpdateEncoder(MAX_EXTENDED_MESSAGE_LENGTH);
    const buf = Buffer.alloc(1 << 18);
    const n = enc.encodeAnnounce(compiled, hosts, 0, hosts.length, buf, 0);
    const msgs = decodeAll(buf.subarray(0, n), EXT);
    const perMessage = Math.floor((MAX_EXTENDED_MESSAGE_LENGTH - compiled.template.length) / 5);
    expect(msgs[0].nlri).toHaveLength(perMessage);
    expect(perMessage).toBeGreaterThanOrEqual(13000);
    expect(buf.readUInt16BE(16)).toBe(compiled.template.length + perMessage * 5);
  });
});

function sessionSetup(cfg: Partial<BgpSessionConfig> = {}) {
  const { clock, sockets, session } = fakeSession(cfg);
  session.start();
  const s = sockets[0];
  s.connect();
  return { session, s, clock };
}

const notificationOf = (msgs: BgpMessage[]): NotificationMessage | undefined => msgs.find((m): m is NotificationMessage => m.type === 'notification');
const extendedOpen = routerOpen({ extra: [{ kind: 'extended-message' }] });

describe('a session and extended messages', () => {
  it('offers the capability when configured, and not otherwise', () => {
    const on = sessionSetup({ extendedMessages: true }).s.take()[0];
    const off = sessionSetup().s.take()[0];
    expect(on.type === 'open' && on.capabilities.some((c) => c.kind === 'extended-message')).toBe(true);
    expect(off.type === 'open' && off.capabilities.some((c) => c.kind === 'extended-message')).toBe(false);
  });

  it('a 5000-byte UPDATE from a peer that did not negotiate it: NOTIFICATION 1/2 (Bad Message Length) with the length', () => {
    for (const [ours, theirs] of [
      [false, true],
      [true, false],
    ]) {
      const { session, s } = sessionSetup({ extendedMessages: ours });
      s.take();
      s.receive(theirs ? extendedOpen : routerOpen());
      s.receive({ type: 'keepalive' });
      expect(session.state).toBe('Established');
      expect(session.negotiation?.extendedMessages).toBe(false);
      s.take();
      const prefixes = Array.from({ length: 1000 }, (_, i) => Prefix.v4(0xc6120000 + i, 32));
      const big = toBuffer({ type: 'update', withdrawn: [], attributes: v4Attrs, nlri: prefixes }, EXT);
      expect(big.length).toBeGreaterThan(4096);
      s.receive(big);
      expect(notificationOf(s.take())).toMatchObject({ code: 1, subcode: 2, data: Buffer.from([big.length >> 8, big.length & 0xff]) });
      expect(session.state).toBe('Idle');
    }
  });

  it('accepts a 65535-byte UPDATE once negotiated, and refuses a 4097-byte OPEN at any time', () => {
    const { session, s } = sessionSetup({ extendedMessages: true });
    s.take();
    s.receive(extendedOpen);
    s.receive({ type: 'keepalive' });
    expect(session.negotiation?.extendedMessages).toBe(true);
    s.take();
    const compiled = compileAttributes(v4Attrs, 'ipv4', EXT);
    const buf = Buffer.alloc(1 << 17);
    const enc = new UpdateEncoder(MAX_EXTENDED_MESSAGE_LENGTH);
    const hosts = Array.from({ length: 14000 }, (_, i) => Prefix.v4(0xc6120000 + i, 32));
    enc.encodeAnnounce(compiled, hosts, 0, hosts.length, buf, 0);
    const first = buf.subarray(0, buf.readUInt16BE(16));
    expect(first.length).toBeGreaterThan(65530);
    s.receive(first);
    expect(session.state).toBe('Established');
    expect(notificationOf(s.take())).toBeUndefined();
    s.receive(message(4097, 1));
    expect(notificationOf(s.take())).toMatchObject({ code: 1, subcode: 2 });
  });

  it('sends ~13,000 /32s per UPDATE when negotiated and at most 4096 bytes when the peer does not offer it', () => {
    const announce = (t: ReturnType<typeof sessionSetup>): void => {
      for (let i = 0; i < 30000; i++) t.session.announce(Prefix.v4(0xc6120000 + i, 32));
    };
    const ext = sessionSetup({ extendedMessages: true });
    announce(ext);
    ext.s.take();
    ext.s.receive(extendedOpen);
    ext.s.receive({ type: 'keepalive' });
    const sent = ext.s.take().filter((m): m is UpdateMessage => m.type === 'update' && m.nlri.length > 0);
    expect(sent.map((u) => u.nlri.length).slice(0, 2).every((n) => n > 13000)).toBe(true);
    expect(sent.reduce((a, u) => a + u.nlri.length, 0)).toBe(30000);

    const plain = sessionSetup({ extendedMessages: true });
    announce(plain);
    plain.s.take();
    plain.s.receive(routerOpen());
    plain.s.receive({ type: 'keepalive' });
    const small = plain.s.take().filter((m): m is UpdateMessage => m.type === 'update' && m.nlri.length > 0);
    expect(Math.max(...small.map((u) => u.nlri.length))).toBeLessThan(820);
    expect(small.reduce((a, u) => a + u.nlri.length, 0)).toBe(30000);
  });
});
