import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BgpError, decode, encode, encodingLength, toBuffer, type CodecContext } from '../../../protocols/bgp/index.js';
import { message } from './arbitraries.js';

const wide: CodecContext = { fourByteAs: true, maxMessageLength: 65535 };
const narrow: CodecContext = { fourByteAs: false, maxMessageLength: 65535 };

function fitsInOpen(buf: Buffer): boolean {
  return buf[18] !== 1 || buf.length - 29 <= 255;
}

describe('codec properties', () => {
  for (const [name, ctx] of [['4-octet AS', wide], ['2-octet AS', narrow]] as const) {
    it(`round-trips every message type (${name})`, () => {
      fc.assert(
        fc.property(message(ctx), (m) => {
          const n = encodingLength(m, ctx);
          fc.pre(m.type !== 'open' || n - 29 <= 255);
          const buf = Buffer.alloc(n + 7, 0xaa);
          expect(encode(m, buf, 3, ctx)).toBe(n);
          expect(decode(buf, 3, ctx)).toEqual(m);
        }),
        { numRuns: 400 },
      );
    });
  }

  it('decode of random bytes throws only BgpError', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 120 }), (bytes) => {
        try {
          decode(Buffer.from(bytes), 0);
        } catch (e) {
          expect(e).toBeInstanceOf(BgpError);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('decode of random bodies behind a valid header throws only BgpError', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 }), fc.uint8Array({ maxLength: 300 }), (type, body) => {
        const buf = Buffer.alloc(19 + body.length, 0xff);
        buf.writeUInt16BE(buf.length, 16);
        buf[18] = type;
        Buffer.from(body).copy(buf, 19);
        for (const ctx of [wide, narrow]) {
          try {
            decode(buf, 0, ctx);
          } catch (e) {
            if (!(e instanceof BgpError)) throw e;
          }
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('decode of corrupted valid messages throws only BgpError', () => {
    fc.assert(
      fc.property(message(wide), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }), (m, flips) => {
        const buf = toBuffer(m, wide);
        fc.pre(fitsInOpen(buf));
        for (const [pos, v] of flips) buf[19 + (pos % Math.max(1, buf.length - 19))] = v;
        try {
          decode(buf, 0, wide);
        } catch (e) {
          if (!(e instanceof BgpError)) throw e;
        }
      }),
      { numRuns: 1500 },
    );
  });

  it('a truncated message is Message Header Error / Bad Message Length (1/2)', () => {
    fc.assert(
      fc.property(message(wide), fc.nat(), (m, cut) => {
        const buf = toBuffer(m, wide);
        fc.pre(fitsInOpen(buf));
        const short = buf.subarray(0, cut % buf.length);
        try {
          decode(short, 0, wide);
          expect.unreachable('truncated message decoded');
        } catch (e) {
          expect(e).toBeInstanceOf(BgpError);
          expect([(e as BgpError).code, (e as BgpError).subcode]).toEqual([1, 2]);
        }
      }),
      { numRuns: 800 },
    );
  });
});
