import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { canonicalIp, countBuggy, formatIp, isBuggyIp, parseIp } from '../../../allocator/ip.js';

// The reference: hex substrings, longest run of >= 2 zero groups compressed, the first on ties.
function reference(n: bigint): string {
  const hex = n.toString(16).padStart(32, '0');
  const groups = Array.from({ length: 8 }, (_, i) => hex.slice(4 * i, 4 * i + 4).replace(/^0+(?=.)/, ''));
  let best = { start: -1, len: 1 };
  for (let i = 0; i < 8; i++) {
    let j = i;
    while (j < 8 && groups[j] === '0') j++;
    if (j - i > best.len) best = { start: i, len: j - i };
  }
  if (best.start < 0) return groups.join(':');
  return `${groups.slice(0, best.start).join(':')}::${groups.slice(best.start + best.len).join(':')}`;
}

describe('allocator IP text', () => {
  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['0.0.0.0', '0.0.0.0'],
    ['255.255.255.255', '255.255.255.255'],
    ['2001:DB8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:0:0:0:2:1', '2001:db8::2:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['1::', '1::'],
    ['2001:0db8::0001', '2001:db8::1'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['2001:db8:0:0:1:0:0:0', '2001:db8:0:0:1::'],
  ])('canonicalizes %s as %s', (input, canonical) => {
    expect(canonicalIp(input)).toBe(canonical);
  });

  it.each(['', '1.2.3', '1.2.3.4.5', '256.0.0.1', '01.2.3.4', '1.2.3.4 ', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '12345::', 'fe80::1%eth0', ':1', '1:', 'g::', '::1.2.3', '192.0.2.0/24'])(
    'rejects %j',
    (input) => {
      expect(parseIp(input)).toBeUndefined();
    },
  );

  it.each(['', '1.2.3', '01.2.3.4', ':::', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7::8', '::1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:1.2.3.4', 'fe80::1%eth0', '::1.2.3'])('canonicalIp rejects %j', (input) => {
    expect(canonicalIp(input)).toBeUndefined();
  });

  // canonicalIp takes its own path (groups, no BigInt, the given string back when canonical): it must
  // say what parse-then-format says for any spelling: upper case, leading zeros, "::" anywhere, a dotted tail.
  it('canonicalIp agrees with formatIp(parseIp()) for every spelling (property)', () => {
    const group = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    const spelling = fc
      .record({
        groups: fc.array(group, { minLength: 8, maxLength: 8 }),
        pad: fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
        upper: fc.boolean(),
        gap: fc.option(fc.record({ at: fc.integer({ min: 0, max: 7 }), len: fc.integer({ min: 1, max: 8 }) }), { nil: undefined }),
        dotted: fc.boolean(),
      })
      .map(({ groups, pad, upper, gap, dotted }) => {
        let parts = groups.map((g, i) => (pad[i] ? g.toString(16).padStart(4, '0') : g.toString(16)));
        if (dotted) parts = [...parts.slice(0, 6), `${groups[6] >> 8}.${groups[6] & 255}.${groups[7] >> 8}.${groups[7] & 255}`];
        let text = parts.join(':');
        if (gap) {
          // Compress a run of zero groups (only if they are zero; a dotted tail is never compressed into).
          const end = Math.min(gap.at + gap.len, dotted ? 6 : 8);
          if (end > gap.at && groups.slice(gap.at, end).every((g) => g === 0)) text = `${parts.slice(0, gap.at).join(':')}::${parts.slice(end).join(':')}`;
        }
        return upper ? text.toUpperCase() : text;
      });
    const v4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((o) => o.join('.'));
    fc.assert(
      fc.property(fc.oneof(spelling, v4, fc.string({ maxLength: 12 })), (text) => {
        const p = parseIp(text);
        expect(canonicalIp(text)).toBe(p && formatIp(p.family, p.num));
      }),
      { numRuns: 3000 },
    );
  });

  it('round-trips every address (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (n) => {
        const text = formatIp('ipv6', n);
        expect(parseIp(text)).toEqual({ family: 'ipv6', num: n });
      }),
    );
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), (n) => {
        expect(parseIp(formatIp('ipv4', n))).toEqual({ family: 'ipv4', num: n });
      }),
    );
  });

  it('formats IPv6 as a plain RFC 5952 reference does, zero runs of every length included (property)', () => {
    const group = fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff }));
    const address = fc.array(group, { minLength: 8, maxLength: 8 }).map((gs) => gs.reduce((n, g) => (n << 16n) | BigInt(g), 0n));
    fc.assert(
      fc.property(address, (n) => {
        expect(formatIp('ipv6', n)).toBe(reference(n));
      }),
      { numRuns: 1000 },
    );
  });

  it('formats walks of nearby IPv6 addresses as the reference does (property: the last block text is reused)', () => {
    // formatV6 reuses the text of the last 2^16-aligned block it formatted: walk from starts where that
    // can go wrong (a last group of 0, the carry into the next group, across the 64-bit boundary,
    // ::ffff:0:0/96, the top of the space, zero runs that move when a group becomes non-zero).
    const top = (1n << 128n) - 1n;
    const start = fc.oneof(
      fc.bigInt({ min: 0n, max: top }),
      fc.constantFrom(0n, 0xffffn, 0x1_0000n, (1n << 64n) - 0x10n, 1n << 64n, 0xffff_0000_0000n, 0xffff_ffff_fff0n, top - 0x20n, 0x2001_0db8n << 96n),
      fc.integer({ min: 0, max: 7 }).map((g) => 0xfff0n << BigInt(16 * g)),
    );
    const step = fc.oneof(fc.constant(1n), fc.bigInt({ min: -3n, max: 3n }), fc.constantFrom(0x1_0000n, -0x1_0000n, 0xfffen, 1n << 64n));
    fc.assert(
      fc.property(start, fc.array(step, { minLength: 1, maxLength: 40 }), (first, steps) => {
        let n = first;
        for (const d of [0n, ...steps]) {
          n += d;
          if (n < 0n || n > top) break;
          expect(formatIp('ipv6', n)).toBe(reference(n));
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('marks .0 and .255 as buggy, IPv4 only', () => {
    expect(isBuggyIp('ipv4', parseIp('192.0.2.0')!.num)).toBe(true);
    expect(isBuggyIp('ipv4', parseIp('192.0.2.255')!.num)).toBe(true);
    expect(isBuggyIp('ipv4', parseIp('192.0.2.1')!.num)).toBe(false);
    expect(isBuggyIp('ipv6', 0n)).toBe(false);
  });

  it('counts buggy addresses in a range like a walk does (property)', () => {
    fc.assert(
      fc.property(fc.bigInt({ min: 0n, max: 5000n }), fc.bigInt({ min: 0n, max: 1200n }), (first, len) => {
        let walk = 0n;
        for (let x = first; x <= first + len; x++) if (isBuggyIp('ipv4', x)) walk++;
        expect(countBuggy(first, first + len)).toBe(walk);
      }),
    );
  });
});
