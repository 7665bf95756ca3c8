// The speaker Lease watch fan-out, measured (README: Scale, the Lease split): N speakers' Leases
// written by the real SpeakerLease (speaker/speaker-lease.ts) to a real kube-apiserver, in one of
// two modes, and a few real Lease watches with the speakers' label selector (what every speaker
// runs) counting the events the API server delivers to each:
// - `periodic`: before the split (and with liveness off): the membership Lease renewed every renewMs.
// - `split`: with liveness on since the split: the membership Lease written at start and on changes
//   only, the unlabelled heartbeat Lease renewed every renewMs.
// Lease only: no liveness protocol, no Services; every member in this process (the writes are what
// matters, not who sends them).
import type { V1Lease } from '@kubernetes/client-node';
import type { KubeAccess } from '../../kube/access.js';
import { leaseInformer } from '../../kube/informers.js';
import type { Informer } from '../../kube/informer.js';
import { systemClock } from '../../protocols/clock.js';
import { SPEAKER_LEASE_LABEL, SPEAKER_LEASE_LABEL_VALUE, SpeakerLease } from '../../speaker/speaker-lease.js';

export interface FanoutResult {
  /** Watch events (add/update/delete) delivered per watcher per second over the window, mean of the watchers. */
  eventsPerWatcherPerS: number;
  /** Lease writes per second over the window (both Leases), and per node. */
  writesPerS: number;
  /** What N watchers (one per speaker) would receive in total: events per watcher x N. */
  fanoutPerS: number;
  windowS: number;
  /** kube-apiserver CPU over the window, % of one core (when `cpuSeconds` was given). */
  apiserverCpuPercent: number;
}

export async function runLeaseFanout(opts: {
  kubeConfig: KubeAccess;
  namespace: string;
  n: number;
  mode: 'periodic' | 'split';
  renewMs: number;
  leaseDurationMs: number;
  windowS: number;
  watchers?: number;
  /** The kube-apiserver's CPU seconds so far (/proc/PID/stat). */
  cpuSeconds?: () => number;
}): Promise<FanoutResult> {
  const split = opts.mode === 'split';
  const leases: SpeakerLease[] = [];
  const noop = (): void => undefined;
  for (let i = 0; i < opts.n; i++) {
    const node = `node-${String(i).padStart(4, '0')}`;
    const common = { kubeConfig: opts.kubeConfig, namespace: opts.namespace, node, clock: systemClock, renewMs: opts.renewMs, leaseDurationMs: opts.leaseDurationMs, onRenewed: noop, onFailed: noop };
    leases.push(new SpeakerLease({ ...common, livenessAddress: `127.0.0.1:${7000 + i}`, livenessWire: 3, advertiseHeartbeat: split, periodic: !split }));
    if (split) leases.push(new SpeakerLease({ ...common, heartbeat: true }));
  }
  const watches: Informer<V1Lease>[] = [];
  const counts: number[] = [];
  for (let w = 0; w < (opts.watchers ?? 3); w++) {
    const inf = leaseInformer(opts.kubeConfig, opts.namespace, { labelSelector: `${SPEAKER_LEASE_LABEL}=${SPEAKER_LEASE_LABEL_VALUE}` });
    counts.push(0);
    const count = (): void => void counts[w]!++;
    inf.on('add', count).on('update', count).on('delete', count).on('error', noop);
    watches.push(inf);
  }
  const timers: NodeJS.Timeout[] = [];
  try {
    await Promise.all(watches.map((w) => w.start()));
    // Speakers start at unrelated times: the first writes spread over one renew interval.
    for (const l of leases) timers.push(setTimeout(() => l.start(), Math.random() * opts.renewMs));
    // Every Lease written once and one more interval for the renewals to reach their steady phase.
    const deadline = Date.now() + 10 * opts.renewMs;
    while (leases.some((l) => l.writes === 0) && Date.now() < deadline) await sleep(500);
    await sleep(opts.renewMs);
    const c0 = [...counts];
    const w0 = leases.reduce((s, l) => s + l.writes, 0);
    const cpu0 = opts.cpuSeconds?.() ?? NaN;
    const t0 = performance.now();
    await sleep(opts.windowS * 1000);
    const s = (performance.now() - t0) / 1000;
    const apiserverCpuPercent = (100 * ((opts.cpuSeconds?.() ?? NaN) - cpu0)) / s;
    const per = counts.map((c, i) => (c - (c0[i] ?? 0)) / s);
    const eventsPerWatcherPerS = per.reduce((a, b) => a + b, 0) / per.length;
    return { eventsPerWatcherPerS, writesPerS: (leases.reduce((sum, l) => sum + l.writes, 0) - w0) / s, fanoutPerS: eventsPerWatcherPerS * opts.n, windowS: s, apiserverCpuPercent };
  } finally {
    for (const t of timers) clearTimeout(t);
    await Promise.all(watches.map((w) => w.stop()));
    await Promise.all(leases.map((l) => l.stop(5000)));
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
