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

packed(); // warm up
packed();
const packedSeconds = bestSeconds(packed, 7);
const updates = packed();
const packedAlloc = bytesPerUpdate(packed, 9);

naive(0, 50_000); // warm up
const naiveSeconds = bestSeconds(() => naive(0, N), 2);
const naiveAlloc = bytesPerUpdate(() => naive(0, 2000), 9);

const rate = (s: number): string => (N / s).toExponential(3);
console.log(`bgp.encoder.packed.v4.1m.prefixes_per_second ${rate(packedSeconds)}`);
console.log(`bgp.encoder.packed.v4.1m.seconds ${packedSeconds.toFixed(4)}`);
console.log(`bgp.encoder.packed.v4.1m.updates ${updates}`);
console.log(`bgp.encoder.packed.v4.1m.bytes_allocated_per_update ${packedAlloc.toFixed(1)}`);
console.log(`bgp.encoder.naive.v4.1m.prefixes_per_second ${rate(naiveSeconds)}`);
console.log(`bgp.encoder.naive.v4.1m.seconds ${naiveSeconds.toFixed(3)}`);
console.log(`bgp.encoder.naive.v4.1m.updates ${N}`);
console.log(`bgp.encoder.naive.v4.1m.bytes_allocated_per_update ${naiveAlloc.toFixed(1)}`);
console.log(`bgp.encoder.packed_vs_naive.speedup.ratio ${(naiveSeconds / packedSeconds).toFixed(1)}`);
if (sink < 0) console.log(sink);
