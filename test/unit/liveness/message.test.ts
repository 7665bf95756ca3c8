import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decode,
  encode,
  encodingLength,
  LivenessError,
  MAC_LENGTH,
  MAX_LENGTH,
  MAX_UPDATES,
  open,
  seal,
  verify,
  type Message,
} from '../../../protocols/liveness/message.js';

const SECRET = Buffer.from('a shared secret of the speakers');

const name = fc.stringMatching(/^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$/);
const u32 = fc.integer({ min: 0, max: 0xffffffff });
const message: fc.Arbitrary<Message> = fc.record({
  type: fc.constantFrom('ping', 'ack', 'pingReq', 'nack'),
  seq: u32,
  incarnation: u32,
  from: name,
  target: fc.oneof(fc.constant(''), name),
  updates: fc.array(fc.record({ name, state: fc.constantFrom('alive', 'suspect', 'dead'), incarnation: u32 }), { maxLength: MAX_UPDATES }),
});

describe('liveness message codec', () => {
  it('pins the layout of a ping', () => {
    const m: Message = { type: 'ping', seq: 7, incarnation: 2, from: 'n1', target: 'n2', updates: [{ name: 'n3', state: 'suspect', incarnation: 1 }] };
    const buf = seal(m, SECRET);
    expect(buf.subarray(0, buf.length - MAC_LENGTH).toString('hex')).toBe(
      '484c' + '01' + '01' + '00000007' + '00000002' + '02' + Buffer.from('n1').toString('hex') + '02' + Buffer.from('n2').toString('hex') + '01' + '01' + '00000001' + '02' + Buffer.from('n3').toString('hex'),
    );
  });

  it('round-trips, with encodingLength exact and under MAX_LENGTH (property)', () => {
    fc.assert(
      fc.property(message, fc.nat(16), (m, offset) => {
        const n = encodingLength(m);
        expect(n).toBeLessThanOrEqual(MAX_LENGTH);
        const buf = Buffer.alloc(offset + n);
        expect(encode(m, buf, offset)).toBe(n);
        expect(decode(buf, offset)).toEqual(m);
        const sealed = seal(m, SECRET);
        expect(open(sealed, SECRET)).toEqual(m);
      }),
    );
  });

  it('rejects a wrong secret and any flipped bit as BadMac (property)', () => {
    fc.assert(
      fc.property(message, fc.nat(), fc.integer({ min: 0, max: 7 }), (m, at, bit) => {
        const buf = seal(m, SECRET);
        expect(verify(buf, Buffer.from('another secret'))).toBe(false);
        const i = at % buf.length;
        buf[i] = (buf[i] ?? 0) ^ (1 << bit);
        expect(() => open(buf, SECRET)).toThrowError(expect.objectContaining({ code: 'BadMac' }) as Error);
      }),
    );
  });

  it('decodes arbitrary bytes to a message or a LivenessError naming a byte offset inside the buffer (fuzz)', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const buf = Buffer.from(bytes);
        try {
          decode(buf, 0);
        } catch (e) {
          expect(e).toBeInstanceOf(LivenessError);
          const err = e as LivenessError;
          if (err.offset !== undefined) {
            expect(err.offset).toBeGreaterThanOrEqual(0);
            expect(err.offset).toBeLessThanOrEqual(buf.length);
          }
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('decodes mutations of valid messages to a message or a LivenessError (fuzz)', () => {
    fc.assert(
      fc.property(message, fc.array(fc.tuple(fc.nat(), fc.nat(255)), { minLength: 1, maxLength: 4 }), fc.nat(8), (m, edits, cut) => {
        const buf = Buffer.from(seal(m, SECRET));
        for (const [at, v] of edits) buf[at % buf.length] = v;
        const sliced = buf.subarray(0, Math.max(0, buf.length - cut));
        try {
          decode(sliced, 0);
        } catch (e) {
          expect(e).toBeInstanceOf(LivenessError);
        }
      }),
      { numRuns: 1000 },
    );
  });

  it('names the field and byte offset of each structural error', () => {
    const good = seal({ type: 'ack', seq: 1, incarnation: 0, from: 'a', target: 'b', updates: [] }, SECRET);
    const bad = (edit: (b: Buffer) => void): LivenessError => {
      const b = Buffer.from(good);
      edit(b);
      try {
        decode(b, 0);
      } catch (e) {
        return e as LivenessError;
      }
      throw new Error('decoded');
    };
    expect(bad((b) => (b[0] = 0))).toMatchObject({ code: 'BadMagic', offset: 0 });
    expect(bad((b) => (b[2] = 9))).toMatchObject({ code: 'BadVersion', offset: 2 });
    expect(bad((b) => (b[3] = 5))).toMatchObject({ code: 'BadType', offset: 3 });
    expect(bad((b) => (b[12] = 0))).toMatchObject({ code: 'BadName', field: 'from', offset: 12 });
    expect(bad((b) => (b[16] = 9))).toMatchObject({ code: 'TooManyUpdates', offset: 16 });
    expect(() => decode(good.subarray(0, 20), 0)).toThrowError(/at byte/);
    expect(() => encode({ type: 'ping', seq: 1, incarnation: 0, from: 'x'.repeat(64), target: '', updates: [] }, Buffer.alloc(300), 0)).toThrowError(LivenessError);
  });
});
