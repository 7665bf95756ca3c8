// The speaker's Service cache at 100,000 Services, in process: the test API server here cannot hold
// 100,000 Services in bench time (services.bench.ts measures a real speaker's RSS at the N it holds).
// Each Service is JSON as kube-apiserver 1.20 sends it (managedFields, pool annotation, IPv6 status),
// parsed and decoded with the speaker's own decoder (speaker/service-decode.ts) into a Map keyed as the
// Informer keys it. Prints the heap that cache holds (after full GCs), per Service, and the process RSS.
// Not counted: the speaker's per-Service state beyond its cache (announcement decisions, metrics).
// Run with --expose-gc (make bench does). HERALD_BENCH_SPEAKER_CACHE_N overrides 100,000.
import { loadavg } from 'node:os';
import { formatIp } from '../../allocator/ip.js';
import { objectKey } from '../../kube/informer.js';
import { decodeSpeakerService, type SpeakerService } from '../../speaker/service-decode.js';

const N = Number(process.env.HERALD_BENCH_SPEAKER_CACHE_N ?? 100_000);
const VIPS = 0x20010db8000100000000000000000000n;
const CLUSTER_IPS = 0x20010db8009600000000000000000000n;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc (make bench does)');
const out = (name: string, value: number, digits = 1): void => void process.stdout.write(`${name} ${value.toFixed(digits)}\n`);

function heap(): number {
  gc!();
  gc!();
  return process.memoryUsage().heapUsed;
}

function serviceJson(i: number): string {
  const time = '2026-12-06T17:00:00Z';
  return JSON.stringify({
    metadata: {
      name: `svc-${i}`,
      namespace: 'bench',
      uid: `6f1c${i.toString(16).padStart(4, '0')}-1a2b-4c3d-8e9f-${i.toString(16).padStart(12, '0')}`,
      resourceVersion: String(1000 + 2 * i),
      creationTimestamp: time,
      annotations: { 'metallb.io/ip-allocated-from-pool': 'p' },
      managedFields: [{ manager: 'herald', operation: 'Update', apiVersion: 'v1', time, fieldsType: 'FieldsV1', fieldsV1: { 'f:status': { 'f:loadBalancer': { 'f:ingress': {} } } } }],
    },
    spec: {
      ports: [{ protocol: 'TCP', port: 80, targetPort: 80 }],
      selector: { app: 'bench' },
      clusterIP: formatIp('ipv6', CLUSTER_IPS + BigInt(i + 1)),
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Cluster',
      ipFamilies: ['IPv6'],
      ipFamilyPolicy: 'SingleStack',
    },
    status: { loadBalancer: { ingress: [{ ip: formatIp('ipv6', VIPS + BigInt(i)) }] } },
  });
}

out('bench.loadavg.1min', loadavg()[0], 2);
const rss0 = process.memoryUsage().rss;
const base = heap();
const cache = new Map<string, SpeakerService>();
for (let i = 0; i < N; i++) {
  const svc = decodeSpeakerService(JSON.parse(serviceJson(i)));
  cache.set(objectKey(svc), svc);
}
const held = heap() - base;
out('speaker-cache.services.count', cache.size, 0);
out('speaker-cache.heap.megabytes', held / 2 ** 20);
out('speaker-cache.heap.bytes-per-service', held / cache.size, 0);
out('speaker-cache.rss-growth.megabytes', (process.memoryUsage().rss - rss0) / 2 ** 20);
