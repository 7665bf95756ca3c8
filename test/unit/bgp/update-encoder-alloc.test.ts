// Proof that the packed UPDATE encoder allocates nothing in steady state: heap and ArrayBuffer
// usage while encoding 1,000,000 /32s (about 1,240 UPDATEs) after a forced GC. The smallest
// growth of a few rounds is used: V8 itself occasionally allocates in old space (e.g. recompiling
// flushed bytecode of the measuring code), which a per-message allocation could never hide behind.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { compileAttributes, Prefix, UpdateEncoder, type CompiledAttributes } from '../../../protocols/bgp/index.js';

// vitest workers run without --expose-gc; this is the documented-by-practice way to get gc() anyway.
setFlagsFromString('--expose-gc');
// Keep V8 from discarding and later recompiling bytecode of the measured code (old-space noise).
setFlagsFromString('--no-flush-bytecode');
const gc = runInNewContext('gc') as () => void;

const N = 1_000_000;
const prefixes: Prefix[] = [];
for (let i = 0; i < N; i++) prefixes.push(Prefix.v4((0xc6120000 + i) >>> 0, 32)); // 198.18.0.0/15, payload only
const compiled = compileAttributes(
  { origin: 0, asPath: [{ type: 2, asns: [64512] }], nextHop: '192.0.2.1', localPref: 100, communities: [0xfde80064] },
  'ipv4',
  { fourByteAs: true, maxMessageLength: 4096 },
);
const buf = Buffer.alloc(1 << 20);

function encodeAll(enc: UpdateEncoder, attrs: CompiledAttributes): number {
  let i = 0;
  let messages = 0;
  while (i < N) {
    enc.encodeAnnounce(attrs, prefixes, i, N, buf, 0);
    i = enc.next;
    messages += enc.messages;
  }
  return messages;
}

/** Smallest heap and ArrayBuffer growth while running fn, over a few rounds each after a full GC. */
function growth(fn: () => void, rounds = 5): { heap: number; arrayBuffers: number } {
  let heap = Infinity;
  let arrayBuffers = Infinity;
  for (let r = 0; r < rounds; r++) {
    // Two collections: the first leaves V8 work (promotion, sweeping) that would otherwise show up as growth.
    gc();
    gc();
    const before = process.memoryUsage();
    fn();
    const after = process.memoryUsage();
    heap = Math.min(heap, after.heapUsed - before.heapUsed);
    arrayBuffers = Math.min(arrayBuffers, after.arrayBuffers - before.arrayBuffers);
  }
  return { heap, arrayBuffers };
}

describe('UpdateEncoder allocation', () => {
  it('allocates ~0 bytes per UPDATE across 1,000,000 /32s', () => {
    const enc = new UpdateEncoder();
    encodeAll(enc, compiled); // warm up: let the JIT settle before measuring
    encodeAll(enc, compiled);
    let messages = 0;
    const g = growth(() => {
      messages = 0;
      messages = encodeAll(enc, compiled);
    });
    expect(messages).toBeGreaterThan(1200);
    expect(g.arrayBuffers).toBe(0);
    // 8 KiB over > 1200 UPDATEs: under 7 bytes per message, i.e. no per-message object at all.
    expect(g.heap).toBeLessThan(8 * 1024);
  });

  // The second: IPv4 in MP_REACH_NLRI with an IPv6 next hop (RFC 8950, unnumbered sessions).
  const viaIpv6 = compileAttributes(
    { origin: 0, asPath: [{ type: 2, asns: [64512] }], mpReach: { afi: 1, safi: 1, nextHop: 'fe80::1', nlri: [] } },
    'ipv4',
    { fourByteAs: true, maxMessageLength: 4096 },
  );
  it.each([
    ['NEXT_HOP', compiled],
    ['MP_REACH_NLRI with an IPv6 next hop', viaIpv6],
  ])('the typed-array IPv4 path allocates ~0 bytes per UPDATE too (%s)', (_, attrs) => {
    const addresses = Uint32Array.from(prefixes, (p) => p.v4);
    const enc = new UpdateEncoder();
    const all = (): number => {
      let i = 0;
      let messages = 0;
      while (i < N) {
        enc.encodeAnnounceV4(attrs, addresses, undefined, i, N, buf, 0);
        i = enc.next;
        messages += enc.messages;
      }
      return messages;
    };
    all();
    all();
    let messages = 0;
    const g = growth(() => {
      messages = 0;
      messages = all();
    });
    expect(messages).toBeGreaterThan(1200);
    expect(g.arrayBuffers).toBe(0);
    expect(g.heap).toBeLessThan(8 * 1024);
  });

  it('the same measurement does see one small object per UPDATE (control)', () => {
    const enc = new UpdateEncoder();
    const kept: object[] = [];
    const leaky = (): void => {
      let i = 0;
      while (i < N) {
        enc.encodeAnnounce(compiled, prefixes, i, N, buf, 0);
        i = enc.next;
        for (let m = 0; m < enc.messages; m++) kept.push({ m });
      }
    };
    leaky();
    const g = growth(() => {
      kept.length = 0;
      leaky();
    }, 2);
    // >= 1200 objects of >= 16 bytes, plus the array holding them.
    expect(g.heap).toBeGreaterThan(16 * 1024);
  });
});
