import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatIPv4, formatIPv6, parseIPv4, parseIPv6, parsePrefix, PrefixError } from '../../../protocols/bgp/index.js';

describe('prefix text', () => {
  it('formats IPv6 per RFC 5952', () => {
    const cases: Array<[string, string]> = [
      ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['::', '::'],
      ['::1', '::1'],
      ['fe80::', 'fe80::'],
      ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ];
    for (const [input, out] of cases) expect(formatIPv6(parseIPv6(input))).toBe(out);
  });

  it('round-trips any address through text', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        expect(Array.from(parseIPv6(formatIPv6(b)))).toEqual(Array.from(b));
      }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (a) => {
        expect(parseIPv4(formatIPv4(a))).toBe(a);
      }),
    );
  });

  it('parses bare addresses as host routes and canonicalises', () => {
    expect(parsePrefix('203.0.113.10').toString()).toBe('203.0.113.10/32');
    expect(parsePrefix('2001:DB8::A').toString()).toBe('2001:db8::a/128');
    expect(parsePrefix('198.51.100.0/24').toString()).toBe('198.51.100.0/24');
    expect(parsePrefix('0.0.0.0/0').toString()).toBe('0.0.0.0/0');
  });

  it('rejects bad text with a PrefixError naming the input', () => {
    for (const bad of ['203.0.113', '203.0.113.1.1', '203.0.113.01', '256.0.0.1', '203.0.113.1/33', '203.0.113.1/24', '2001:db8::1::2', '2001:db8::g', '2001:db8::1/129', '1:2:3:4:5:6:7:8:9', 'fe80::1%eth0', '', 'x']) {
      expect(() => parsePrefix(bad), bad).toThrow(PrefixError);
      try {
        parsePrefix(bad);
      } catch (e) {
        expect((e as PrefixError).input).toBe(bad);
      }
    }
  });
});
