import { describe, expect, it } from 'vitest';
import { formatSeconds, parseGoDuration } from '../../../config/duration.js';

const S = 1_000_000_000n;

describe('parseGoDuration (Go time.ParseDuration syntax)', () => {
  it.each([
    ['90s', 90n * S],
    ['3m', 180n * S],
    ['1h30m', 5400n * S],
    ['1m30s', 90n * S],
    ['1.5m', 90n * S],
    ['.5s', S / 2n],
    ['1.s', S],
    ['300ms', 300_000_000n],
    ['10us', 10_000n],
    ['10µs', 10_000n],
    ['10μs', 10_000n],
    ['7ns', 7n],
    ['0', 0n],
    ['+0', 0n],
    ['0s', 0n],
    ['-90s', -90n * S],
    ['+5s', 5n * S],
    ['1h1m1s1ms', 3661n * S + 1_000_000n],
    ['0.0000000019s', 1n], // fractions below a nanosecond are truncated, as in Go
    ['000000000000000000000000001s', S],
    ['2562047h47m16.854775807s', (1n << 63n) - 1n], // Go's maximum duration
  ])('%j', (text, nanos) => {
    expect(parseGoDuration(text)).toEqual({ ok: true, value: nanos });
  });

  it.each([
    ['', 'empty'],
    ['-', 'empty'],
    ['90', 'missing unit'],
    ['1h30', 'missing unit'],
    ['5 s', 'unknown unit " s"'],
    ['5S', 'unknown unit "S"'],
    ['5d', 'unknown unit "d"'],
    ['5constructor', 'unknown unit "constructor"'],
    ['.s', 'expected a number'],
    ['s', 'expected a number'],
    ['1s.', 'expected a number'],
    ['2562047h47m16.854775808s', 'out of range'],
    ['99999999999999999999999h', 'out of range'],
    ['1s'.repeat(40), 'too long'],
  ])('rejects %j', (text, reason) => {
    const r = parseGoDuration(text);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.reason).toContain(reason);
      expect(r.reason).toContain('expected e.g. "90s"');
    }
  });

  it('formats whole seconds in Go style', () => {
    expect(formatSeconds(0)).toBe('0s');
    expect(formatSeconds(90)).toBe('1m30s');
    expect(formatSeconds(3600)).toBe('1h');
    expect(formatSeconds(3661)).toBe('1h1m1s');
    for (const n of [0, 1, 59, 60, 61, 3599, 86400 + 7]) {
      const r = parseGoDuration(formatSeconds(n));
      expect(r.ok && r.value).toBe(BigInt(n) * S);
    }
  });
});
