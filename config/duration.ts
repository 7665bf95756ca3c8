// Go's time.ParseDuration syntax ("90s", "1m30s", "1.5m", "300ms"), exactly, as MetalLB reads
// hold-time and keepalive-time with it. Computed in BigInt nanoseconds so no float rounding creeps in.
import type { Parsed } from './addresses.js';

const NANOS_PER_UNIT: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 micro sign
  'μs': 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

/** Go's time.Duration is an int64 of nanoseconds. */
const MAX_NANOS = (1n << 63n) - 1n;

export const NANOS_PER_SECOND = 1_000_000_000n;

/** Nanoseconds (may be negative, as in Go), or why the text is not a Go duration. */
export function parseGoDuration(text: string): Parsed<bigint> {
  const bad = (why: string): Parsed<bigint> => ({
    ok: false,
    reason: `${JSON.stringify(text)} is not a duration (${why}); expected e.g. "90s", "3m" or "1h30m"`,
  });
  // Real durations are a few characters; this bounds the work on hostile input.
  if (text.length > 64) return bad('too long');
  let s = text;
  let negative = false;
  if (s.startsWith('-') || s.startsWith('+')) {
    negative = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return { ok: true, value: 0n };
  if (s === '') return bad('empty');
  let total = 0n;
  while (s !== '') {
    const m = /^([0-9]*)(?:\.([0-9]*))?/.exec(s) as RegExpExecArray;
    const whole = m[1];
    const fraction = m[2] ?? '';
    if (whole === '' && fraction === '') return bad('expected a number');
    s = s.slice(m[0].length);
    const unitMatch = /^[^0-9.]*/.exec(s) as RegExpExecArray;
    const unit = unitMatch[0];
    s = s.slice(unit.length);
    if (unit === '') return bad('missing unit; use ns, us, ms, s, m or h');
    const scale = NANOS_PER_UNIT[unit];
    if (scale === undefined || !Object.hasOwn(NANOS_PER_UNIT, unit)) return bad(`unknown unit ${JSON.stringify(unit)}`);
    const digits = whole.replace(/^0+/, '');
    if (digits.length > 20) return bad('out of range');
    // Go truncates the fractional part below a nanosecond; digits past 30 cannot matter.
    const frac = fraction.slice(0, 30);
    let value = BigInt(digits === '' ? '0' : digits) * scale;
    if (frac !== '') value += (BigInt(frac) * scale) / 10n ** BigInt(frac.length);
    total += value;
    if (total > MAX_NANOS) return bad('out of range');
  }
  return { ok: true, value: negative ? -total : total };
}

/** "90s", "1m30s", "1h": the shortest Go-style text for whole seconds (used when rendering configs). */
export function formatSeconds(seconds: number): string {
  if (seconds === 0) return '0s';
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
}
