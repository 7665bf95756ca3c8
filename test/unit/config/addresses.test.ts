import { describe, expect, it } from 'vitest';
import { formatIp, parseAddressEntry, parseIp, rangeToCidrs } from '../../../config/addresses.js';

describe('parseIp', () => {
  it.each([
    ['192.0.2.1', 'ipv4', 0xc0000201n, '192.0.2.1'],
    ['0.0.0.0', 'ipv4', 0n, '0.0.0.0'],
    ['255.255.255.255', 'ipv4', 0xffffffffn, '255.255.255.255'],
    ['2001:DB8::1', 'ipv6', 0x20010db8000000000000000000000001n, '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', 'ipv6', 0x20010db8000000000000000000000001n, '2001:db8::1'],
    ['::', 'ipv6', 0n, '::'],
    ['64:ff9b::192.0.2.1', 'ipv6', 0x0064ff9b0000000000000000c0000201n, '64:ff9b::c000:201'],
  ])('%s', (text, family, value, canonical) => {
    expect(parseIp(text)).toEqual({ ok: true, value: { family, value, text: canonical } });
  });

  it.each([
    ['01.2.3.4', 'not an IP address'],
    ['1.2.3', 'not an IP address'],
    ['256.0.0.1', 'not an IP address'],
    [' 192.0.2.1', 'not an IP address'],
    ['192.0.2.1/32', 'not an IP address'],
    ['fe80::1%eth0', 'no zone'],
    ['[::1]', 'no zone, prefix length or brackets'],
    ['2001:db8::/64', 'no zone, prefix length'],
    ['1:2:3:4:5:6:7:8:9', 'not a valid IPv6 address'],
    ['2001:db8:::1', 'not a valid IPv6 address'],
    ['::ffff:192.0.2.1', 'write the IPv4 address 192.0.2.1 instead'],
    ['::ffff:c000:201', 'write the IPv4 address 192.0.2.1 instead'],
    ['', 'not an IP address'],
  ])('rejects %j', (text, reason) => {
    const r = parseIp(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(reason);
  });

  it('formats both families', () => {
    expect(formatIp('ipv4', 0xcb007100n)).toBe('203.0.113.0');
    expect(formatIp('ipv6', 0x20010db8000000000000000000000000n)).toBe('2001:db8::');
  });
});

describe('parseAddressEntry', () => {
  it('parses CIDRs of both families with their prefix length', () => {
    expect(parseAddressEntry('203.0.113.0/24')).toEqual({
      ok: true,
      value: { family: 'ipv4', first: 0xcb007100n, last: 0xcb0071ffn, source: '203.0.113.0/24', prefixLength: 24 },
    });
    const v6 = parseAddressEntry('2001:db8::/64');
    expect(v6.ok && v6.value.last - v6.value.first).toBe((1n << 64n) - 1n);
    expect(parseAddressEntry('0.0.0.0/0')).toMatchObject({ ok: true, value: { first: 0n, last: 0xffffffffn } });
    expect(parseAddressEntry('192.0.2.7/32')).toMatchObject({ ok: true, value: { first: 0xc0000207n, last: 0xc0000207n } });
  });

  it('parses ranges, trimming spaces around the entry and the dash', () => {
    expect(parseAddressEntry(' 203.0.113.10 - 203.0.113.20 ')).toEqual({
      ok: true,
      value: { family: 'ipv4', first: 0xcb00710an, last: 0xcb007114n, source: '203.0.113.10 - 203.0.113.20' },
    });
    expect(parseAddressEntry('192.0.2.5-192.0.2.5')).toMatchObject({ ok: true, value: { first: 0xc0000205n, last: 0xc0000205n } });
  });

  it.each([
    ['203.0.113.5/24', 'has host bits set: the network is 203.0.113.0/24'],
    ['2001:db8::9/125', 'has host bits set: the network is 2001:db8::8/125'],
    ['2001:db8::1/64', 'the network is 2001:db8::/64'],
    ['203.0.113.0/33', 'not an integer from 0 to 32'],
    ['2001:db8::/129', 'not an integer from 0 to 128'],
    ['203.0.113.0/-1', 'range start:'],
    ['203.0.113.0/', 'not an integer'],
    ['203.0.113.0/24/1', 'neither a CIDR nor a range'],
    ['203.0.113.20-203.0.113.10', 'starts after it ends'],
    ['203.0.113.1-2001:db8::1', 'mixes IPv4 and IPv6'],
    ['x-203.0.113.1', 'range start:'],
    ['203.0.113.1-y', 'range end:'],
    ['   ', 'empty address entry'],
  ])('rejects %j', (text, reason) => {
    const r = parseAddressEntry(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(reason);
  });
});

describe('rangeToCidrs', () => {
  const show = (first: bigint, last: bigint) => rangeToCidrs('ipv4', first, last).map((b) => `${formatIp('ipv4', b.first)}/${b.prefixLength}`);

  it('splits a range into the fewest aligned blocks', () => {
    expect(show(0xcb00710an, 0xcb007114n)).toEqual(['203.0.113.10/31', '203.0.113.12/30', '203.0.113.16/30', '203.0.113.20/32']);
    expect(show(0xcb007100n, 0xcb0071ffn)).toEqual(['203.0.113.0/24']);
    expect(show(0n, 0xffffffffn)).toEqual(['0.0.0.0/0']);
    expect(rangeToCidrs('ipv6', 0n, (1n << 128n) - 1n)).toEqual([{ first: 0n, prefixLength: 0 }]);
  });

  it('covers the range exactly, for many ranges', () => {
    for (let i = 0; i < 200; i++) {
      const a = BigInt(Math.floor(Math.random() * 5000));
      const b = a + BigInt(Math.floor(Math.random() * 5000));
      const blocks = rangeToCidrs('ipv4', a, b);
      let cursor = a;
      for (const block of blocks) {
        expect(block.first).toBe(cursor);
        const size = 1n << BigInt(32 - block.prefixLength);
        expect(block.first % size).toBe(0n);
        cursor += size;
      }
      expect(cursor).toBe(b + 1n);
      expect(blocks.length).toBeLessThanOrEqual(64);
    }
  });
});
