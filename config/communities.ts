// BGP communities as written in the config: standard "a:b" (RFC 1997, two 16-bit halves) and
// large "a:b:c" (RFC 8092, three 32-bit parts; MetalLB 0.13's "large:a:b:c" spelling is accepted too).
import type { Parsed } from './addresses.js';
import type { Community } from './model.js';

const PART = /^(0|[1-9][0-9]{0,9})$/;

export function parseCommunity(text: string): Parsed<Community> {
  const body = text.startsWith('large:') ? text.slice('large:'.length) : text;
  const parts = body.split(':');
  const large = parts.length === 3 || text.startsWith('large:');
  if ((parts.length !== 2 && parts.length !== 3) || (large && parts.length !== 3) || !parts.every((p) => PART.test(p))) {
    return {
      ok: false,
      reason: `${JSON.stringify(text)} is not a community: expected "a:b" (two numbers 0-65535) or a large community "a:b:c" (three numbers 0-4294967295)`,
    };
  }
  const n = parts.map(Number);
  if (!large) {
    if (n[0] > 0xffff || n[1] > 0xffff) {
      return { ok: false, reason: `${JSON.stringify(text)} is out of range: each half of a standard community is 0-65535 (use "a:b:c" for a large community)` };
    }
    return { ok: true, value: { kind: 'standard', value: n[0] * 0x10000 + n[1] } };
  }
  if (n.some((x) => x > 0xffffffff)) {
    return { ok: false, reason: `${JSON.stringify(text)} is out of range: each part of a large community is 0-4294967295` };
  }
  return { ok: true, value: { kind: 'large', globalAdmin: n[0], localData1: n[1], localData2: n[2] } };
}

export function formatCommunity(c: Community): string {
  if (c.kind === 'standard') return `${Math.floor(c.value / 0x10000)}:${c.value % 0x10000}`;
  return `${c.globalAdmin}:${c.localData1}:${c.localData2}`;
}

export function sameCommunity(a: Community, b: Community): boolean {
  return formatCommunity(a) === formatCommunity(b) && a.kind === b.kind;
}
