import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileAttributes,
  decode,
  parsePrefix,
  Prefix,
  toBuffer,
  UpdateEncoder,
  type CodecContext,
  type PathAttributes,
  type UpdateMessage,
} from '../../../protocols/bgp/index.js';
import { prefixV4, prefixV6 } from './arbitraries.js';

const ctx: CodecContext = { fourByteAs: true, maxMessageLength: 4096 };
const MARKER = 'ff'.repeat(16);
const v4Attrs: PathAttributes = { origin: 0, asPath: [{ type: 2, asns: [65001] }], nextHop: '192.0.2.1', localPref: 100 };
const v6Attrs: PathAttributes = { origin: 0, asPath: [], mpReach: { afi: 2, safi: 1, nextHop: '2001:db8::1', nlri: [] } };

/** Split a buffer of back-to-back messages and decode each. */
function decodeAll(buf: Buffer, c: CodecContext = ctx): UpdateMessage[] {
  const out: UpdateMessage[] = [];
  for (let o = 0; o < buf.length; ) {
    const len = buf.readUInt16BE(o + 16);
    expect(len).toBeLessThanOrEqual(c.maxMessageLength);
    const m = decode(buf, o, c);
    expect(m.type).toBe('update');
    out.push(m as UpdateMessage);
    o += len;
  }
  return out;
}

function hosts(n: number, base = 0xc6120000 /* 198.18.0.0 */): Prefix[] {
  const out: Prefix[] = [];
  for (let i = 0; i < n; i++) out.push(Prefix.v4(base + i, 32));
  return out;
}

describe('UpdateEncoder', () => {
  it('writes the same bytes as the general encoder for IPv4', () => {
    const prefixes = [parsePrefix('203.0.113.10/32'), parsePrefix('198.51.100.0/24')];
    const enc = new UpdateEncoder();
    const buf = Buffer.alloc(4096);
    const n = enc.encodeAnnounce(compileAttributes(v4Attrs, 'ipv4', ctx), prefixes, 0, 2, buf, 0);
    expect(enc.next).toBe(2);
    expect(enc.messages).toBe(1);
    const expected = toBuffer({ type: 'update', withdrawn: [], attributes: v4Attrs, nlri: prefixes });
    expect(buf.subarray(0, n).toString('hex')).toBe(expected.toString('hex'));
  });

  it('writes a hand-computed IPv6 UPDATE (MP_REACH last, extended length)', () => {
    const enc = new UpdateEncoder();
    const buf = Buffer.alloc(4096);
    const n = enc.encodeAnnounce(compileAttributes(v6Attrs, 'ipv6', ctx), [parsePrefix('2001:db8:1::10/128')], 0, 1, buf, 0);
    // ORIGIN 40010100 | AS_PATH 400200 | MP_REACH 90 0e 0026 0002 01 10 <nh16> 00 80 <p16>: value 4+16+1+17 = 38
    const nh = '20010db8000000000000000000000001';
    const p = '20010db8000100000000000000000010';
    const expected = `${MARKER}0048020000003140010100400200900e0026000201 10${nh}00 80${p}`.replace(/\s+/g, '');
    expect(buf.subarray(0, n).toString('hex')).toBe(expected);
    expect(decodeAll(buf.subarray(0, n))[0].attributes.mpReach?.nlri.map(String)).toEqual(['2001:db8:1::10/128']);
  });

  it('packs /32s into 4096-byte UPDATEs, as many as fit', () => {
    const compiled = compileAttributes(v4Attrs, 'ipv4', ctx);
    const perMessage = Math.floor((4096 - compiled.template.length) / 5);
    const prefixes = hosts(2000);
    const enc = new UpdateEncoder();
    const buf = Buffer.alloc(1 << 20);
    const n = enc.encodeAnnounce(compiled, prefixes, 0, prefixes.length, buf, 0);
    const msgs = decodeAll(buf.subarray(0, n));
    expect(msgs.length).toBe(Math.ceil(2000 / perMessage));
    expect(msgs[0].nlri.length).toBe(perMessage);
    expect(msgs.flatMap((m) => m.nlri).map(String)).toEqual(prefixes.map(String));
    for (const m of msgs) expect(m.attributes).toEqual(v4Attrs);
  });

  it('uses 65535-byte messages when extended messages are negotiated', () => {
    const ext: CodecContext = { fourByteAs: true, maxMessageLength: 65535 };
    const compiled = compileAttributes(v4Attrs, 'ipv4', ext);
    const enc = new UpdateEncoder(65535);
    const buf = Buffer.alloc(1 << 20);
    const n = enc.encodeAnnounce(compiled, hosts(20000), 0, 20000, buf, 0);
    const msgs = decodeAll(buf.subarray(0, n), ext);
    expect(msgs[0].nlri.length).toBe(Math.floor((65535 - compiled.template.length) / 5));
    expect(msgs.flatMap((m) => m.nlri).length).toBe(20000);
  });

  it('splits withdrawals into bounded messages (IPv4 and IPv6)', () => {
    const enc = new UpdateEncoder();
    const buf = Buffer.alloc(1 << 20);
    const v4 = hosts(3000);
    let n = enc.encodeWithdraw('ipv4', v4, 0, v4.length, buf, 0);
    let msgs = decodeAll(buf.subarray(0, n));
    expect(msgs.length).toBe(Math.ceil(3000 / Math.floor((4096 - 23) / 5)));
    expect(msgs.flatMap((m) => m.withdrawn).map(String)).toEqual(v4.map(String));
    for (const m of msgs) expect(m.attributes).toEqual({});

    const v6 = Array.from({ length: 1000 }, (_, i) => parsePrefix(`2001:db8::${i.toString(16)}/128`));
    n = enc.encodeWithdraw('ipv6', v6, 0, v6.length, buf, 0);
    msgs = decodeAll(buf.subarray(0, n));
    expect(msgs.length).toBe(Math.ceil(1000 / Math.floor((4096 - 30) / 17)));
    expect(msgs.flatMap((m) => m.attributes.mpUnreach?.withdrawn ?? []).map(String)).toEqual(v6.map(String));
  });

  it('stops at whole messages when the buffer is full and resumes from next', () => {
    const compiled = compileAttributes(v4Attrs, 'ipv4', ctx);
    const prefixes = hosts(5000);
    const enc = new UpdateEncoder();
    const buf = Buffer.alloc(10000);
    const seen: string[] = [];
    let i = 0;
    while (i < prefixes.length) {
      const n = enc.encodeAnnounce(compiled, prefixes, i, prefixes.length, buf, 0);
      expect(n).toBeGreaterThan(0);
      i = enc.next;
      for (const m of decodeAll(buf.subarray(0, n))) seen.push(...m.nlri.map(String));
    }
    expect(seen).toEqual(prefixes.map(String));
  });

  it('round-trips any mix of prefixes at any message size limit', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.array(prefixV4, { minLength: 1, maxLength: 400 }).map((p) => ['ipv4', p] as const), fc.array(prefixV6, { minLength: 1, maxLength: 200 }).map((p) => ['ipv6', p] as const)),
        fc.integer({ min: 200, max: 4096 }),
        fc.boolean(),
        ([family, prefixes], max, withdraw) => {
          const c: CodecContext = { fourByteAs: true, maxMessageLength: max };
          const enc = new UpdateEncoder(max);
          const buf = Buffer.alloc(1 << 16);
          const n = withdraw
            ? enc.encodeWithdraw(family, prefixes, 0, prefixes.length, buf, 0)
            : enc.encodeAnnounce(compileAttributes(family === 'ipv4' ? v4Attrs : v6Attrs, family, c), prefixes, 0, prefixes.length, buf, 0);
          expect(enc.next).toBe(prefixes.length);
          const msgs = decodeAll(buf.subarray(0, n), c);
          expect(msgs.length).toBe(enc.messages);
          const got = msgs.flatMap((m) =>
            withdraw ? [...m.withdrawn, ...(m.attributes.mpUnreach?.withdrawn ?? [])] : [...m.nlri, ...(m.attributes.mpReach?.nlri ?? [])],
          );
          expect(got.map(String)).toEqual(prefixes.map(String));
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('UpdateEncoder.encodeAnnounceV4 (typed arrays)', () => {
  it('writes exactly what encodeAnnounce writes for the same prefixes', () => {
    fc.assert(
      fc.property(fc.array(prefixV4, { minLength: 1, maxLength: 2000 }), fc.boolean(), fc.integer({ min: 100, max: 4096 }), (prefixes, allHosts, max) => {
        const list = allHosts ? prefixes.map((p) => Prefix.v4(p.v4, 32)) : prefixes;
        const compiled = compileAttributes(v4Attrs, 'ipv4', { fourByteAs: true, maxMessageLength: max });
        const addresses = Uint32Array.from(list.map((p) => p.v4));
        const lengths = allHosts ? undefined : Uint8Array.from(list.map((p) => p.length));
        const a = Buffer.alloc(1 << 15);
        const b = Buffer.alloc(1 << 15);
        const e1 = new UpdateEncoder(max);
        const e2 = new UpdateEncoder(max);
        let i = 0;
        let j = 0;
        while (i < list.length) {
          const n1 = e1.encodeAnnounce(compiled, list, i, list.length, a, 0);
          const n2 = e2.encodeAnnounceV4(compiled, addresses, lengths, j, list.length, b, 0);
          expect(n2).toBe(n1);
          expect(b.subarray(0, n2).equals(a.subarray(0, n1))).toBe(true);
          expect(e2.next).toBe(e1.next);
          i = e1.next;
          j = e2.next;
        }
      }),
      { numRuns: 150 },
    );
  });
});
