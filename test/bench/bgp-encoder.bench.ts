// Benchmark: the packed, allocation-free UPDATE encoder against a naive one (one UPDATE per prefix,
// each in a fresh Buffer; to be fair to it, the attributes are pre-encoded and only copied) on
// 1,000,000 /32s from 198.18.0.0/15 (RFC 2544 benchmarking space, payload only).
// Run with `tsx --expose-gc`.
import { attributesToBuffer, compileAttributes, encodeHeader, encodePrefix, MessageType, Prefix, UpdateEncoder, type CodecContext, type PathAttributes } from '../../protocols/bgp/index.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc (make bench does)');

const N = 1_000_000;
const ctx: CodecContext = { fourByteAs: true, maxMessageLength: 4096 };
const attrs: PathAttributes = { origin: 0, asPath: [{ type: 2, asns: [64512] }], nextHop: '192.0.2.1', localPref: 100, communities: [0xfde80064] };
const prefixes: Prefix[] = [];
for (let i = 0; i < N; i++) prefixes.push(Prefix.v4((0xc6120000 + i) >>> 0, 32));

const compiled = compileAttributes(attrs, 'ipv4', ctx);
const enc = new UpdateEncoder(ctx.maxMessageLength);
const out = Buffer.alloc(1 << 20);

/** Encode all N prefixes through the reused buffer; returns UPDATE count. */
function packed(): number {
  let i = 0;
  let messages = 0;
  while (i < N) {
    enc.encodeAnnounce(compiled, prefixes, i, N, out, 0);
    i = enc.next;
    messages += enc.messages;
  }
  return messages;
}

const attrBytes = attributesToBuffer(attrs, ctx);
let sink = 0;
/** One UPDATE per prefix, each in a fresh Buffer, from prefixes[from, to). */
function naive(from: number, to: number): number {
  for (let i = from; i < to; i++) {
    const p = prefixes[i];
    const length = 19 + 4 + attrBytes.length + 1 + ((p.length + 7) >> 3);
    const m = Buffer.alloc(length);
    encodeHeader(length, MessageType.Update, m, 0);
    m.writeUInt16BE(attrBytes.length, 21);
    attrBytes.copy(m, 23);
    encodePrefix(p, m, 23 + attrBytes.length);
    sink += m.length;
  }
  return to - from;
}

function used(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** Median bytes allocated per UPDATE over `chunks` runs of fn (a GC inside one chunk only skews that one). */
function bytesPerUpdate(fn: () => number, chunks: number): number {
  const baseline: number[] = [];
  const deltas: number[] = [];
  for (let c = 0; c < chunks; c++) {
    gc!();
    const a = used();
    const b = used();
    baseline.push(b - a);
    const before = used();
    const updates = fn();
    deltas.push((used() - before - (b - a)) / updates);
  }
  deltas.sort((x, y) => x - y);
  return Math.max(0, deltas[Math.floor(deltas.length / 2)]);
}

function bestSeconds(fn: () => void, runs: number): number {
  let best = Infinity;
  for (let r = 0; r < runs; r++) {
    const t = performance.now();
    fn();
    best = Math.min(best, (performance.now() - t) / 1000);
  }
  return best;
}

// The same 1M /32s held as a Uint32Array (the most compact form): sequential reads.
const addresses = Uint32Array.from(prefixes, (p) => p.v4);
function packedTyped(): number {
  let i = 0;
  let messages = 0;
  while (i < N) {
    enc.encodeAnnounceV4(compiled, addresses, undefined, i, N, out, 0);
    i = enc.next;
    messages += enc.messages;
  }
  return messages;
}

packed(); // warm up
packed();
const packedSeconds = bestSeconds(packed, 7);
const updates = packed();
const packedAlloc = bytesPerUpdate(packed, 9);

packedTyped();
packedTyped();
const typedSeconds = bestSeconds(packedTyped, 7);
const typedAlloc = bytesPerUpdate(packedTyped, 9);

naive(0, 50_000); // warm up
const naiveSeconds = bestSeconds(() => naive(0, N), 2);
const naiveAlloc = bytesPerUpdate(() => naive(0, 2000), 9);

// IPv6 /128s from 2001:db8::/32 through MP_REACH_NLRI (200k: each parsed prefix holds its own 16 bytes).
const N6 = 200_000;
const prefixes6: Prefix[] = [];
for (let i = 0; i < N6; i++) {
  const a = new Uint8Array(16);
  a.set([0x20, 0x01, 0x0d, 0xb8]);
  a[12] = i >>> 24;
  a[13] = (i >>> 16) & 0xff;
  a[14] = (i >>> 8) & 0xff;
  a[15] = i & 0xff;
  prefixes6.push(Prefix.v6(a, 128));
}
const compiled6 = compileAttributes({ origin: 0, asPath: [{ type: 2, asns: [64512] }], mpReach: { afi: 2, safi: 1, nextHop: '2001:db8::1', nlri: [] } }, 'ipv6', ctx);
function packed6(): number {
  let i = 0;
  let messages = 0;
  while (i < N6) {
    enc.encodeAnnounce(compiled6, prefixes6, i, N6, out, 0);
    i = enc.next;
    messages += enc.messages;
  }
  return messages;
}
packed6();
const packed6Seconds = bestSeconds(packed6, 7);
const packed6Alloc = bytesPerUpdate(packed6, 9);

const rate = (s: number): string => (N / s).toExponential(3);
console.log(`bgp.encoder.packed.v4.1m.prefixes_per_second ${rate(packedSeconds)}`);
console.log(`bgp.encoder.packed.v4.1m.seconds ${packedSeconds.toFixed(4)}`);
console.log(`bgp.encoder.packed.v4.1m.updates ${updates}`);
console.log(`bgp.encoder.packed.v4.1m.bytes_allocated_per_update ${packedAlloc.toFixed(1)}`);
console.log(`bgp.encoder.packed_typed.v4.1m.prefixes_per_second ${rate(typedSeconds)}`);
console.log(`bgp.encoder.packed_typed.v4.1m.bytes_allocated_per_update ${typedAlloc.toFixed(1)}`);
console.log(`bgp.encoder.naive.v4.1m.prefixes_per_second ${rate(naiveSeconds)}`);
console.log(`bgp.encoder.naive.v4.1m.seconds ${naiveSeconds.toFixed(3)}`);
console.log(`bgp.encoder.naive.v4.1m.updates ${N}`);
console.log(`bgp.encoder.naive.v4.1m.bytes_allocated_per_update ${naiveAlloc.toFixed(1)}`);
console.log(`bgp.encoder.packed.v6.200k.prefixes_per_second ${(N6 / packed6Seconds).toExponential(3)}`);
console.log(`bgp.encoder.packed.v6.200k.bytes_allocated_per_update ${packed6Alloc.toFixed(1)}`);
console.log(`bgp.encoder.packed_vs_naive.speedup.ratio ${(naiveSeconds / packedSeconds).toFixed(1)}`);
console.log(`bgp.encoder.packed_typed_vs_naive.speedup.ratio ${(naiveSeconds / typedSeconds).toFixed(1)}`);
if (sink < 0) console.log(sink);
