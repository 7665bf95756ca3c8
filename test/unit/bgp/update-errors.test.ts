import { describe, expect, it } from 'vitest';
import { BgpError, decode, decodeUpdate, isTreatAsWithdraw, MessageReader, toBuffer, type BgpMessage } from '../../../protocols/bgp/index.js';

const MARKER = 'ff'.repeat(16);

/** An UPDATE from hex parts: withdrawn routes, path attributes, NLRI. */
function update(withdrawn: string, attrs: string, nlri: string): Buffer {
  const w = Buffer.from(withdrawn, 'hex');
  const a = Buffer.from(attrs.replace(/\s+/g, ''), 'hex');
  const n = Buffer.from(nlri, 'hex');
  const body = Buffer.concat([Buffer.from([w.length >> 8, w.length & 0xff]), w, Buffer.from([a.length >> 8, a.length & 0xff]), a, n]);
  const head = Buffer.from(MARKER + '0000' + '02', 'hex');
  head.writeUInt16BE(19 + body.length, 16);
  return Buffer.concat([head, body]);
}

const ORIGIN = '40010100';
const AS_PATH = '400200';
const NEXT_HOP = '400304c0000201';
const NLRI = '20cb00710a';

function thrown(fn: () => unknown): BgpError {
  try {
    fn();
  } catch (e) {
    if (e instanceof BgpError) return e;
    throw e;
  }
  throw new Error('did not throw');
}

describe('header errors', () => {
  it('bad marker is 1/1, unknown type is 1/3, wrong KEEPALIVE length is 1/2', () => {
    const ka = Buffer.from(MARKER + '001304', 'hex');
    const badMarker = Buffer.from(ka);
    badMarker[3] = 0;
    expect(thrown(() => decode(badMarker, 0))).toMatchObject({ code: 1, subcode: 1, offset: 3 });
    const badType = Buffer.from(ka);
    badType[18] = 9;
    expect(thrown(() => decode(badType, 0))).toMatchObject({ code: 1, subcode: 3, data: Buffer.from([9]) });
    const long = Buffer.concat([Buffer.from(MARKER + '001404', 'hex'), Buffer.alloc(1)]);
    expect(thrown(() => decode(long, 0))).toMatchObject({ code: 1, subcode: 2, data: Buffer.from([0, 20]) });
  });

  it('a length over 4096 is 1/2 unless extended messages are negotiated', () => {
    const big = update('', `${ORIGIN}${AS_PATH}${NEXT_HOP}`, NLRI.repeat(1000));
    expect(thrown(() => decode(big, 0))).toMatchObject({ code: 1, subcode: 2 });
    expect((decode(big, 0, { fourByteAs: true, maxMessageLength: 65535 }) as { nlri: unknown[] }).nlri).toHaveLength(1000);
  });
});

describe('UPDATE errors (RFC 4271 §6.3 with RFC 7606)', () => {
  it('withdrawn routes length too large: session reset 3/1', () => {
    const m = update('', '', '');
    m.writeUInt16BE(10, 19);
    expect(thrown(() => decodeUpdate(m, 0))).toMatchObject({ code: 3, subcode: 1 });
  });

  it('total path attribute length too large: session reset 3/1', () => {
    const m = update('', ORIGIN, '');
    m.writeUInt16BE(50, 21);
    expect(thrown(() => decodeUpdate(m, 0))).toMatchObject({ code: 3, subcode: 1 });
  });

  it('an attribute overrunning the attribute field: treat-as-withdraw, NLRI still parsed', () => {
    const m = decodeUpdate(update('', `${ORIGIN}${AS_PATH}${NEXT_HOP} c00808fde9`, NLRI), 0);
    expect(isTreatAsWithdraw(m)).toBe(true);
    expect(m.malformed?.[0].error).toMatchObject({ code: 3, subcode: 1 });
    expect(m.nlri.map(String)).toEqual(['203.0.113.10/32']);
  });

  it('invalid ORIGIN value: treat-as-withdraw (3/6)', () => {
    const m = decodeUpdate(update('', `40010105${AS_PATH}${NEXT_HOP}`, NLRI), 0);
    expect(isTreatAsWithdraw(m)).toBe(true);
    expect(m.malformed?.[0].error).toMatchObject({ code: 3, subcode: 6 });
  });

  it('wrong flags on a well-known attribute: treat-as-withdraw (3/4)', () => {
    const m = decodeUpdate(update('', `c0010100${AS_PATH}${NEXT_HOP}`, NLRI), 0);
    expect(isTreatAsWithdraw(m)).toBe(true);
    expect(m.malformed?.some((x) => x.error.subcode === 4)).toBe(true);
  });

  it('COMMUNITIES length not a multiple of 4: treat-as-withdraw (3/5)', () => {
    const m = decodeUpdate(update('', `${ORIGIN}${AS_PATH}${NEXT_HOP} c00803fde900`, NLRI), 0);
    expect(isTreatAsWithdraw(m)).toBe(true);
    expect(m.malformed?.[0].error).toMatchObject({ code: 3, subcode: 5 });
  });

  it('malformed AS_PATH: treat-as-withdraw (3/11)', () => {
    const m = decodeUpdate(update('', `${ORIGIN} 4002060203 0000fde9 ${NEXT_HOP}`, NLRI), 0);
    expect(isTreatAsWithdraw(m)).toBe(true);
    expect(m.malformed?.[0].error).toMatchObject({ code: 3, subcode: 11 });
  });

  it('ATOMIC_AGGREGATE with a length: attribute discarded, routes kept', () => {
    const m = decodeUpdate(update('', `${ORIGIN}${AS_PATH}${NEXT_HOP} 40060100`, NLRI), 0);
    expect(isTreatAsWithdraw(m)).toBe(false);
    expect(m.malformed?.[0].action).toBe('attribute-discard');
    expect(m.attributes.atomicAggregate).toBeUndefined();
  });

  it('missing NEXT_HOP with NLRI: treat-as-withdraw (3/3, data = type)', () => {
    const m = decodeUpdate(update('', `${ORIGIN}${AS_PATH}`, NLRI), 0);
    expect(isTreatAsWithdraw(m)).toBe(true);
    expect(m.malformed?.[0].error).toMatchObject({ code: 3, subcode: 3, data: Buffer.from([3]) });
  });

  it('a repeated attribute keeps the first copy; a repeated MP_REACH resets the session (3/1)', () => {
    const m = decodeUpdate(update('', `${ORIGIN}${AS_PATH}${NEXT_HOP}40010102`, NLRI), 0);
    expect(m.attributes.origin).toBe(0);
    expect(m.malformed?.[0].action).toBe('attribute-discard');
    const mp = '800f03000201';
    expect(thrown(() => decodeUpdate(update('', mp + mp, ''), 0))).toMatchObject({ code: 3, subcode: 1 });
  });

  it('malformed MP_REACH_NLRI resets the session (3/9)', () => {
    // next hop length 5 for IPv6
    expect(thrown(() => decodeUpdate(update('', `${ORIGIN}${AS_PATH} 800e0b 000201 05 0000000000 00 00`, ''), 0))).toMatchObject({ code: 3, subcode: 9 });
  });

  it('unrecognized well-known attribute resets the session (3/2)', () => {
    expect(thrown(() => decodeUpdate(update('', `${ORIGIN}${AS_PATH}${NEXT_HOP} 406301ff`, NLRI), 0))).toMatchObject({ code: 3, subcode: 2 });
  });

  it('unknown optional attributes are kept and ignored', () => {
    const m = decodeUpdate(update('', `${ORIGIN}${AS_PATH}${NEXT_HOP} c06302abcd`, NLRI), 0);
    expect(m.malformed).toBeUndefined();
    expect(m.attributes.other).toEqual([{ flags: 0xc0, typeCode: 0x63, value: Buffer.from('abcd', 'hex') }]);
  });

  it('an NLRI with a bad prefix length is Invalid Network Field (3/10)', () => {
    expect(thrown(() => decodeUpdate(update('', `${ORIGIN}${AS_PATH}${NEXT_HOP}`, '21cb00710a00'), 0))).toMatchObject({ code: 3, subcode: 10 });
    expect(thrown(() => decodeUpdate(update('', `${ORIGIN}${AS_PATH}${NEXT_HOP}`, '20cb0071'), 0))).toMatchObject({ code: 3, subcode: 10 });
  });
});

describe('MessageReader', () => {
  it('frames messages split across arbitrary chunk boundaries', () => {
    const msgs: BgpMessage[] = [{ type: 'keepalive' }, { type: 'route-refresh', afi: 1, subtype: 0, safi: 1 }, { type: 'notification', code: 6, subcode: 2, data: Buffer.from('03616263', 'hex') }];
    const stream = Buffer.concat(msgs.map((m) => toBuffer(m)));
    for (let step = 1; step <= stream.length; step++) {
      const r = new MessageReader();
      const out: BgpMessage[] = [];
      for (let i = 0; i < stream.length; i += step) {
        r.push(stream.subarray(i, i + step));
        for (let b = r.next(); b; b = r.next()) out.push(decode(b, 0));
      }
      expect(out).toEqual(msgs);
    }
  });

  it('rejects a bad header as soon as the header is complete', () => {
    const r = new MessageReader();
    r.push(Buffer.from(MARKER + 'ffff02', 'hex'));
    expect(thrown(() => r.next())).toMatchObject({ code: 1, subcode: 2 });
  });
});
