import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BfdError } from '../../../protocols/bfd/errors.js';
import { decode, encode, encodingLength, type BfdAuth, type ControlPacket } from '../../../protocols/bfd/packet.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

function base(over: Partial<ControlPacket> = {}): ControlPacket {
  return {
    diag: 0,
    state: 'Down',
    poll: false,
    final: false,
    controlPlaneIndependent: false,
    demand: false,
    detectMult: 3,
    myDiscriminator: 1,
    yourDiscriminator: 0,
    desiredMinTxInterval: 1_000_000,
    requiredMinRxInterval: 300_000,
    requiredMinEchoRxInterval: 0,
    ...over,
  };
}

/** Byte layout of RFC 5880 §4.1, written out by hand. */
const DOWN = hex('20 40 03 18  00000001  00000000  000f4240  000493e0  00000000');
const UP_POLL = hex('20 e0 05 18  deadbeef  00000001  000493e0  000493e0  00000000');
const UP_FINAL_DIAG = hex('23 d0 03 18  00000002  00000003  0000c350  0000c350  00000000');

describe('BFD control packet: RFC 5880 §4.1 layout', () => {
  it('decodes hand-written packets', () => {
    expect(decode(DOWN, 0)).toEqual(base());
    expect(decode(UP_POLL, 0)).toEqual(base({ state: 'Up', poll: true, detectMult: 5, myDiscriminator: 0xdeadbeef, yourDiscriminator: 1, desiredMinTxInterval: 300_000 }));
    expect(decode(UP_FINAL_DIAG, 0)).toEqual(
      base({ diag: 3, state: 'Up', final: true, myDiscriminator: 2, yourDiscriminator: 3, desiredMinTxInterval: 50_000, requiredMinRxInterval: 50_000 }),
    );
  });

  it('encodes to the same bytes', () => {
    for (const bytes of [DOWN, UP_POLL, UP_FINAL_DIAG]) {
      const buf = Buffer.alloc(24);
      expect(encode(decode(bytes, 0), buf, 0)).toBe(24);
      expect(buf).toEqual(bytes);
    }
  });

  it('keyed SHA1 and simple password sections (§4.2-4.4)', () => {
    const sha: BfdAuth = { type: 'meticulous-keyed-sha1', keyId: 7, sequence: 0x01020304, digest: Buffer.alloc(20, 0xab) };
    const p = base({ auth: sha });
    expect(encodingLength(p)).toBe(52);
    const buf = Buffer.alloc(52);
    encode(p, buf, 0);
    expect(buf[1] & 0x04).toBe(4);
    expect(buf[3]).toBe(52);
    expect(buf.subarray(24, 32)).toEqual(hex('05 1c 07 00 01020304'));
    expect(decode(buf, 0)).toEqual(p);
    const simple = base({ auth: { type: 'simple', keyId: 1, password: Buffer.from('secret') } });
    const b2 = Buffer.alloc(encodingLength(simple));
    encode(simple, b2, 0);
    expect(b2.subarray(24)).toEqual(Buffer.concat([hex('01 09 01'), Buffer.from('secret')]));
    expect(decode(b2, 0)).toEqual(simple);
  });
});

describe('BFD control packet: §6.8.6 reception checks', () => {
  const cases: Array<[string, (b: Buffer) => Buffer, string, number]> = [
    ['version 0', (b) => ((b[0] = 0x00), b), 'BadVersion', 0],
    ['version 2', (b) => ((b[0] = 0x40), b), 'BadVersion', 0],
    ['Length 23', (b) => ((b[3] = 23), b), 'BadLength', 3],
    ['Length 25 with the A bit', (b) => ((b[1] |= 0x04), (b[3] = 25), Buffer.concat([b, Buffer.alloc(1)])), 'BadLength', 3],
    ['Length beyond the payload', (b) => ((b[3] = 30), b), 'BadLength', 3],
    ['Detect Mult 0', (b) => ((b[2] = 0), b), 'ZeroDetectMult', 2],
    ['Multipoint bit', (b) => ((b[1] |= 0x01), b), 'Multipoint', 1],
    ['My Discriminator 0', (b) => (b.writeUInt32BE(0, 4), b), 'ZeroMyDiscriminator', 4],
    ['Your Discriminator 0 in Up', (b) => ((b[1] = 0xc0), b), 'ZeroYourDiscriminator', 8],
    ['Your Discriminator 0 in Init', (b) => ((b[1] = 0x80), b), 'ZeroYourDiscriminator', 8],
    ['A bit with a 2-byte section', (b) => ((b[1] |= 0x04), (b[3] = 26), Buffer.concat([b, hex('0102')])), 'BadAuth', 25],
    ['A bit, Auth Len not filling the packet', (b) => ((b[1] |= 0x04), (b[3] = 30), Buffer.concat([b, hex('01 05 01 61 62 63')])), 'BadAuth', 25],
    ['unknown Auth Type', (b) => ((b[1] |= 0x04), (b[3] = 28), Buffer.concat([b, hex('09 04 01 61')])), 'BadAuth', 24],
    ['MD5 with a short Auth Len', (b) => ((b[1] |= 0x04), (b[3] = 28), Buffer.concat([b, hex('02 04 01 61')])), 'BadAuth', 25],
  ];
  for (const [name, mutate, code, offset] of cases) {
    it(`${name}: ${code} at byte ${offset}`, () => {
      const buf = mutate(Buffer.from(DOWN));
      let err: unknown;
      try {
        decode(buf, 0);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(BfdError);
      expect((err as BfdError).code).toBe(code);
      expect((err as BfdError).offset).toBe(offset);
      expect((err as BfdError).message).toMatch(/RFC 5880 §6\.8\.6/);
      expect((err as BfdError).message).toContain(`at byte ${offset}`);
    });
  }

  it('Your Discriminator 0 is fine in Down and AdminDown', () => {
    expect(decode(DOWN, 0).state).toBe('Down');
    const admin = Buffer.from(DOWN);
    admin[1] = 0x00;
    expect(decode(admin, 0).state).toBe('AdminDown');
  });

  it('fewer than 24 bytes: TooShort at the start', () => {
    expect(() => decode(DOWN.subarray(0, 23), 0)).toThrow(/at byte 0: 23 bytes/);
  });

  it('encode refuses what it cannot represent, naming the field', () => {
    const buf = Buffer.alloc(64);
    expect(() => encode(base({ detectMult: 0 }), buf, 0)).toThrow(/detectMult/);
    expect(() => encode(base({ myDiscriminator: 0 }), buf, 0)).toThrow(/myDiscriminator/);
    expect(() => encode(base({ poll: true, final: true }), buf, 0)).toThrow(/P and F/);
    expect(() => encode(base(), buf, 50)).toThrow(/buffer/);
  });
});

const state = fc.constantFrom('AdminDown', 'Down', 'Init', 'Up') as fc.Arbitrary<ControlPacket['state']>;
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const auth: fc.Arbitrary<BfdAuth> = fc.oneof(
  fc.record({ type: fc.constant('simple' as const), keyId: fc.integer({ min: 0, max: 255 }), password: fc.uint8Array({ minLength: 1, maxLength: 16 }).map((a) => Buffer.from(a)) }),
  fc.record({
    type: fc.constantFrom('keyed-md5' as const, 'meticulous-keyed-md5' as const),
    keyId: fc.integer({ min: 0, max: 255 }),
    sequence: u32,
    digest: fc.uint8Array({ minLength: 16, maxLength: 16 }).map((a) => Buffer.from(a)),
  }),
  fc.record({
    type: fc.constantFrom('keyed-sha1' as const, 'meticulous-keyed-sha1' as const),
    keyId: fc.integer({ min: 0, max: 255 }),
    sequence: u32,
    digest: fc.uint8Array({ minLength: 20, maxLength: 20 }).map((a) => Buffer.from(a)),
  }),
);
const packet: fc.Arbitrary<ControlPacket> = fc
  .record({
    diag: fc.integer({ min: 0, max: 31 }),
    state,
    pf: fc.constantFrom([false, false], [true, false], [false, true]),
    controlPlaneIndependent: fc.boolean(),
    demand: fc.boolean(),
    detectMult: fc.integer({ min: 1, max: 255 }),
    myDiscriminator: fc.integer({ min: 1, max: 0xffffffff }),
    yourDiscriminator: u32,
    desiredMinTxInterval: u32,
    requiredMinRxInterval: u32,
    requiredMinEchoRxInterval: u32,
    auth: fc.option(auth, { nil: undefined }),
  })
  .map(({ pf, auth: a, ...rest }) => {
    const p: ControlPacket = { ...rest, poll: pf[0], final: pf[1] };
    if (p.yourDiscriminator === 0 && (p.state === 'Init' || p.state === 'Up')) p.yourDiscriminator = 1;
    if (a) p.auth = a;
    return p;
  });

describe('BFD control packet: properties', () => {
  it('round-trips at any offset', () => {
    fc.assert(
      fc.property(packet, fc.integer({ min: 0, max: 16 }), (p, offset) => {
        const n = encodingLength(p);
        const buf = Buffer.alloc(offset + n, 0xaa);
        expect(encode(p, buf, offset)).toBe(n);
        expect(decode(buf, offset)).toEqual(p);
      }),
      { numRuns: 1000 },
    );
  });

  it('decode of arbitrary bytes throws nothing but BfdError, which names a byte offset inside the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (bytes) => {
        try {
          decode(Buffer.from(bytes), 0);
        } catch (e) {
          expect(e).toBeInstanceOf(BfdError);
          const off = (e as BfdError).offset;
          expect(off).toBeDefined();
          expect(off!).toBeLessThanOrEqual(Math.max(0, bytes.length - 1));
        }
      }),
      { numRuns: 5000 },
    );
  });

  it('fuzz: mutations of valid packets (bounded time) are decoded or rejected with BfdError only', () => {
    fc.assert(
      fc.property(packet, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 6 }), fc.nat({ max: 8 }), (p, flips, cut) => {
        const buf = Buffer.alloc(encodingLength(p));
        encode(p, buf, 0);
        for (const [at, v] of flips) buf[at % buf.length] = v;
        const input = buf.subarray(0, Math.max(0, buf.length - cut));
        try {
          const d = decode(input, 0);
          // Whatever is accepted satisfies every §6.8.6 rule.
          expect(d.detectMult).toBeGreaterThan(0);
          expect(d.myDiscriminator).toBeGreaterThan(0);
          if (d.state === 'Init' || d.state === 'Up') expect(d.yourDiscriminator).toBeGreaterThan(0);
        } catch (e) {
          expect(e).toBeInstanceOf(BfdError);
        }
      }),
      { numRuns: 20_000, interruptAfterTimeLimit: 1500 },
    );
  });
});
