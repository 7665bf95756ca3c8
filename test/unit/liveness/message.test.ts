import { createHmac } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decode,
  encode,
  encodingLength,
  LivenessError,
  LivenessKey,
  macLength,
  MAX_LENGTH,
  MAX_STAMP,
  MAX_UPDATES,
  open,
  seal,
  type Datagram,
  type Message,
  type WireVersion,
} from '../../../protocols/liveness/message.js';
import { NodeIds } from '../../../protocols/liveness/node-ids.js';

const SECRET = Buffer.from('a shared secret of the speakers');
const KEY = new LivenessKey(SECRET);
/** Version 3's member list: names in it go by their ids, others by their names. */
const POOL = ['n1', 'n2', 'n3', 'node-0001', 'node-0002', 'worker-17.rack-07.zone-a.dc1.k8s.example.com', 'x'.repeat(63)];
const IDS = new NodeIds(SECRET);
for (const n of POOL) IDS.add(n);

const name = fc.oneof(fc.constantFrom(...POOL), fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/));
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const message: fc.Arbitrary<Message> = fc.record({
  type: fc.constantFrom('ping', 'ack', 'pingReq', 'nack'),
  seq: u32,
  incarnation: u32,
  from: name,
  target: fc.oneof(fc.constant(''), name),
  updates: fc.array(fc.record({ name, state: fc.constantFrom('alive', 'suspect', 'dead'), incarnation: u32 }), { maxLength: MAX_UPDATES }),
});
const datagram: fc.Arbitrary<Datagram> = fc.oneof(
  message.map((m): Datagram => ({ version: 1, stamp: 0, message: m })),
  fc.tuple(message, fc.integer({ min: 0, max: MAX_STAMP }), fc.constantFrom(2 as const, 3 as const)).map(([m, stamp, version]): Datagram => ({ version, stamp, message: m })),
);
/** What decoding gives back: versions 2 and 3 carry no target in a ping or an ack. */
const expected = (d: Datagram): Datagram => (d.version !== 1 && (d.message.type === 'ping' || d.message.type === 'ack') ? { ...d, message: { ...d.message, target: '' } } : d);

const errorOf = (f: () => unknown): LivenessError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(LivenessError);
    return e as LivenessError;
  }
  throw new Error('no error');
};

describe('liveness message codec', () => {
  const m: Message = { type: 'ping', seq: 7, incarnation: 2, from: 'n1', target: 'n2', updates: [{ name: 'n3', state: 'suspect', incarnation: 1 }] };
  const body = '02' + Buffer.from('n1').toString('hex');
  const update = '01' + '01' + '00000001' + '02' + Buffer.from('n3').toString('hex');

  it('pins version 1 as the speakers before version 2 send it, with the whole HMAC-SHA256', () => {
    const buf = seal({ version: 1, stamp: 0, message: m }, KEY);
    const head = '484c' + '01' + '01' + '00000007' + '00000002' + body + '02' + Buffer.from('n2').toString('hex') + update;
    expect(buf.subarray(0, buf.length - 32).toString('hex')).toBe(head);
    expect(buf.subarray(buf.length - 32)).toEqual(createHmac('sha256', SECRET).update(Buffer.from(head, 'hex')).digest());
  });

  it('pins version 2: stamp, no target in a ping, HMAC-SHA256 truncated to 16 bytes', () => {
    const buf = seal({ version: 2, stamp: 0x0102030405, message: m }, KEY);
    const head = '484c' + '02' + '01' + '000102030405' + '00000007' + '00000002' + body + update;
    expect(buf.subarray(0, buf.length - 16).toString('hex')).toBe(head);
    expect(buf.subarray(buf.length - 16)).toEqual(createHmac('sha256', SECRET).update(Buffer.from(head, 'hex')).digest().subarray(0, 16));
    // A ping between two nine-character names: 65 bytes in version 1, 45 in version 2.
    const ping = (version: WireVersion): number => encodingLength({ version, stamp: 0, message: { type: 'ping', seq: 1, incarnation: 0, from: 'node-0001', target: 'node-0002', updates: [] } });
    expect([ping(1), ping(2)]).toEqual([65, 45]);
  });

  it('pins version 3: nodes the member list knows by their 32-bit ids (tag 0xff), others by name; a 40-byte ping', () => {
    const id = (n: string): string => 'ff' + IDS.hash(n).toString(16).padStart(8, '0');
    const k = createHmac('sha256', SECRET).update('herald.io/liveness-wire node id v3').digest();
    expect(IDS.hash('n1')).toBe(createHmac('sha256', k).update('n1').digest().readUInt32BE(0));
    const buf = seal({ version: 3, stamp: 0x0102030405, message: { ...m, updates: [...m.updates, { name: 'stranger', state: 'dead', incarnation: 2 }] } }, KEY, IDS);
    const head = '484c' + '03' + '01' + '000102030405' + '00000007' + '00000002' + id('n1') + '02' + '01' + '00000001' + id('n3') + '02' + '00000002' + '08' + Buffer.from('stranger').toString('hex');
    expect(buf.subarray(0, buf.length - 16).toString('hex')).toBe(head);
    expect(buf.subarray(buf.length - 16)).toEqual(createHmac('sha256', SECRET).update(Buffer.from(head, 'hex')).digest().subarray(0, 16));
    const ping = (from: string, version: WireVersion): number => encodingLength({ version, stamp: 0, message: { type: 'ping', seq: 1, incarnation: 0, from, target: 'node-0002', updates: [] } }, IDS);
    for (const from of POOL) expect(ping(from, 3)).toBe(40);
    expect(ping(POOL[5] as string, 2)).toBe(18 + 1 + 44 + 1 + 16);
  });

  it('version 3 decoding: an id naming no member is UnknownId as the sender, none as a target, skipped as an update', () => {
    const d: Datagram = { version: 3, stamp: 1, message: { type: 'nack', seq: 1, incarnation: 0, from: 'n1', target: 'n2', updates: [{ name: 'n3', state: 'dead', incarnation: 1 }, { name: 'n1', state: 'alive', incarnation: 0 }] } };
    const buf = seal(d, KEY, IDS);
    const fewer = new NodeIds(SECRET);
    fewer.add('n1');
    expect(open(buf, KEY, fewer)).toEqual({ ...d, message: { ...d.message, target: '', updates: [{ name: 'n1', state: 'alive', incarnation: 0 }] }, skipped: 1 });
    expect(errorOf(() => open(buf, KEY, new NodeIds(SECRET)))).toMatchObject({ code: 'UnknownId', field: 'from', offset: 18 });
    expect(errorOf(() => decode(buf, 0))).toMatchObject({ code: 'UnknownId' }); // no member list at all
    // A length byte between 64 and 254 is neither a name nor an id.
    const bad = Buffer.from(buf);
    bad[18] = 0x80;
    expect(errorOf(() => decode(bad, 0, IDS))).toMatchObject({ code: 'BadName', field: 'from', offset: 18 });
  });

  it('round-trips every version, with encodingLength exact and under MAX_LENGTH (property)', () => {
    fc.assert(
      fc.property(datagram, fc.nat(16), (d, offset) => {
        const n = encodingLength(d, IDS);
        expect(n).toBeLessThanOrEqual(MAX_LENGTH);
        const buf = Buffer.alloc(offset + n);
        expect(encode(d, buf, offset, IDS)).toBe(n);
        expect(decode(buf, offset, IDS)).toEqual(expected(d));
        expect(open(seal(d, KEY, IDS), KEY, IDS)).toEqual(expected(d));
      }),
    );
  });

  it('rejects every truncation of a sealed datagram with a LivenessError (property)', () => {
    fc.assert(
      fc.property(datagram, (d) => {
        const buf = seal(d, KEY, IDS);
        for (let cut = 0; cut < buf.length; cut++) {
          const err = errorOf(() => open(buf.subarray(0, cut), KEY, IDS));
          expect(['TooShort', 'BadMac']).toContain(err.code);
        }
      }),
      { numRuns: 50 },
    );
  });

  it('rejects every single flipped bit, in the body or in the MAC, and a wrong secret (property)', () => {
    const other = new LivenessKey(Buffer.from('another secret of 16+ bytes'));
    fc.assert(
      fc.property(datagram, (d) => {
        const good = seal(d, KEY, IDS);
        expect(errorOf(() => open(good, other, IDS)).code).toBe('BadMac');
        for (let i = 0; i < good.length; i++) {
          for (let bit = 0; bit < 8; bit++) {
            const buf = Buffer.from(good);
            buf[i] = (buf[i] ?? 0) ^ (1 << bit);
            // The magic and version are read first (they fix the MAC's length); everything else fails the MAC.
            const err = errorOf(() => open(buf, KEY, IDS));
            if (i < 2) expect(err.code).toBe('BadMagic');
            else if (i === 2 && [1, 2, 3].includes(buf[2] ?? 0)) expect(['BadMac', 'TooShort']).toContain(err.code); // another version: its MAC fails
            else if (i === 2) expect(err.code).toBe('BadVersion');
            else expect(err.code).toBe('BadMac');
          }
        }
      }),
      { numRuns: 20 },
    );
  });

  it('rejects a MAC of the other version\'s length, and an unknown version, before anything else', () => {
    fc.assert(
      fc.property(datagram, (d) => {
        const buf = seal(d, KEY, IDS);
        const mac = macLength(d.version);
        const body = buf.subarray(0, buf.length - mac);
        const full = createHmac('sha256', SECRET).update(body).digest();
        // Versions 2 and 3 with the whole 32-byte HMAC, version 1 with only 16 bytes of it.
        const wrong = Buffer.concat([body, d.version !== 1 ? full : full.subarray(0, 16)]);
        expect(['BadMac', 'TooShort']).toContain(errorOf(() => open(wrong, KEY, IDS)).code);
        for (const v of [0, 4, 255]) {
          const unknown = Buffer.from(buf);
          unknown[2] = v;
          expect(errorOf(() => open(unknown, KEY, IDS))).toMatchObject({ code: 'BadVersion', offset: 2 });
        }
      }),
      { numRuns: 100 },
    );
  });

  it('decodes arbitrary bytes to a datagram or a LivenessError naming a byte offset inside the buffer (fuzz)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), fc.uint8Array({ maxLength: 400 }).map((b) => Uint8Array.from([0x48, 0x4c, 1 + (b[0] ?? 0) % 3, ...b]))), (bytes) => {
        const buf = Buffer.from(bytes);
        for (const f of [() => decode(buf, 0), () => decode(buf, 0, IDS), () => open(buf, KEY, IDS)]) {
          try {
            f();
          } catch (e) {
            expect(e).toBeInstanceOf(LivenessError);
            const err = e as LivenessError;
            if (err.offset !== undefined) {
              expect(err.offset).toBeGreaterThanOrEqual(0);
              expect(err.offset).toBeLessThanOrEqual(buf.length);
            }
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes mutations of valid datagrams to a datagram or a LivenessError (fuzz)', () => {
    fc.assert(
      fc.property(datagram, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }), fc.nat(8), (d, edits, cut) => {
        const buf = Buffer.from(seal(d, KEY, IDS));
        for (const [at, v] of edits) buf[at % buf.length] = v;
        const sliced = buf.subarray(0, Math.max(0, buf.length - cut));
        try {
          decode(sliced, 0, IDS);
        } catch (e) {
          expect(e).toBeInstanceOf(LivenessError);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('names the field and byte offset of each structural error', () => {
    const good = seal({ version: 1, stamp: 0, message: { type: 'ack', seq: 1, incarnation: 0, from: 'a', target: 'b', updates: [] } }, KEY);
    const bad = (edit: (b: Buffer) => void): LivenessError => {
      const b = Buffer.from(good);
      edit(b);
      return errorOf(() => decode(b, 0));
    };
    expect(bad((b) => (b[0] = 0))).toMatchObject({ code: 'BadMagic', offset: 0 });
    expect(bad((b) => (b[2] = 9))).toMatchObject({ code: 'BadVersion', offset: 2 });
    expect(bad((b) => (b[3] = 5))).toMatchObject({ code: 'BadType', offset: 3 });
    expect(bad((b) => (b[12] = 0))).toMatchObject({ code: 'BadName', field: 'from', offset: 12 });
    expect(bad((b) => (b[16] = 9))).toMatchObject({ code: 'TooManyUpdates', offset: 16 });
    expect(() => decode(good.subarray(0, 20), 0)).toThrowError(/at byte/);
    const v2 = seal({ version: 2, stamp: 9, message: { type: 'nack', seq: 1, incarnation: 0, from: 'a', target: 'b', updates: [] } }, KEY);
    const b2 = Buffer.from(v2);
    b2[22] = 9; // the update count, after the header (18), from (2) and target (2)
    expect(errorOf(() => decode(b2, 0))).toMatchObject({ code: 'TooManyUpdates', offset: 22 });
    expect(() => encode({ version: 1, stamp: 0, message: { type: 'ping', seq: 1, incarnation: 0, from: 'x'.repeat(64), target: '', updates: [] } }, Buffer.alloc(300), 0)).toThrowError(LivenessError);
    expect(() => encode({ version: 1, stamp: 5, message: { type: 'ping', seq: 1, incarnation: 0, from: 'x', target: '', updates: [] } }, Buffer.alloc(300), 0)).toThrowError(/stamp/);
    expect(() => encode({ version: 2, stamp: MAX_STAMP + 1, message: { type: 'ping', seq: 1, incarnation: 0, from: 'x', target: '', updates: [] } }, Buffer.alloc(300), 0)).toThrowError(/stamp/);
  });
});
