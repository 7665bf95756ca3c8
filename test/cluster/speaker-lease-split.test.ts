// The Lease split with liveness on (README: Scale): each speaker writes a membership Lease
// (labelled, watched by every speaker) only on a change, and renews an unlabelled heartbeat Lease;
// a speaker cut from the API server fences itself by the heartbeat, goes silent on the liveness
// protocol, and the others declare it dead and take its VIP; while an older speaker (a Lease without
// the heartbeat annotation) is live, the membership Leases are renewed periodically again.
// Real kube-apiserver, speaker processes with the record announcer and liveness over loopback UDP.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSocket } from 'node:dgram';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { rankSpeakers } from '../../speaker/layer2-owner.js';
import { kubeconfigPath, kubectl, waitFor } from './harness.js';
import type { CuttableProxy } from './proxy.js';
import { proxiedNamespace, type ProxiedNamespace } from './proxied-namespace.js';
import { createServiceWithIps, setEndpoints, SpeakerProcess, speakerConfigYaml, type RecordLine } from './speaker-process.js';

const RENEW_MS = 1000;
// 6 s: a renewal under load (CI runs on 2 shared cores) can take seconds; speaker.test.ts saw > 3 s.
const DURATION_MS = 6000;

/**
 * A UDP port for a speaker's liveness socket (the daemon has no "port 0"): below the ephemeral range
 * (32768+), which the kernel hands out to other sockets on its own, and checked free by binding it.
 */
async function livenessPort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = 20_000 + Math.floor(Math.random() * 10_000);
    if (taken.has(port)) continue;
    const s = createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => {
      s.once('error', () => resolve(false));
      s.bind(port, '127.0.0.1', () => resolve(true));
    });
    if (!ok) {
      s.close();
      continue;
    }
    await new Promise<void>((resolve) => s.close(() => resolve()));
    taken.add(port);
    return port;
  }
}

interface LeaseObject {
  metadata: { resourceVersion: string; labels?: Record<string, string>; annotations?: Record<string, string> };
}

describe('speaker Lease split (liveness on)', () => {
  let kc: KubeConfig;
  let ns: string;
  let proxy: CuttableProxy;
  let dir: string;
  let setUp: ProxiedNamespace | undefined;
  const speakers: SpeakerProcess[] = [];

  beforeAll(async () => {
    setUp = await proxiedNamespace('split');
    ({ kc, ns, proxy, dir } = setUp);
    writeFileSync(join(dir, 'secret'), 'a liveness secret of the test, 32b');
  });
  afterAll(async () => {
    await Promise.all(speakers.map((s) => s.kill('SIGKILL')));
    await setUp?.close();
  });

  const lease = (name: string): LeaseObject => JSON.parse(kubectl(['get', 'lease', '-n', ns, name, '-o', 'json'])) as LeaseObject;

  it('membership Leases change only on changes, heartbeats renew; a speaker cut from the API server fences, goes silent, and the others take over; an older peer brings periodic renewals back', async () => {
    const cut = `${ns}-cut`;
    const nodes = [cut, `${ns}-b`, `${ns}-c`];
    let ip = '';
    for (let i = 1; i < 250 && !ip; i++) if (rankSpeakers(nodes, `203.0.113.${i}`)[0] === cut) ip = `203.0.113.${i}`;
    kubectl(['apply', '-f', '-'], { input: speakerConfigYaml(ns, { l2: { protocol: 'layer2', addresses: ['203.0.113.0/24'] } }) });
    await createServiceWithIps(kc, ns, 'web', [ip]);
    await setEndpoints(kc, ns, 'web', [{ node: 'elsewhere', ready: true }]);
    const key = `${ns}/web`;
    const taken = new Set<number>();
    for (const node of nodes) {
      const port = await livenessPort(taken);
      speakers.push(
        new SpeakerProcess({
          kubeconfig: node === cut ? join(dir, 'kubeconfig') : kubeconfigPath(),
          node,
          namespace: ns,
          leaseRenew: `${RENEW_MS}ms`,
          leaseDuration: `${DURATION_MS}ms`,
          extraArgs: ['--liveness-port', String(port), '--liveness-address', '127.0.0.1', '--liveness-secret-file', join(dir, 'secret')],
        }),
      );
    }
    const [a, b, c] = speakers as [SpeakerProcess, SpeakerProcess, SpeakerProcess];
    await Promise.all(speakers.map((s) => Promise.all(nodes.map((n) => s.waitForLog(`${n} live`, (l) => l.event === 'speakerLive' && l.reason === `${n}: renewed`, 60_000)))));
    await a.waitFor('owner', (r: RecordLine) => r.op === 'setBalancer' && r.name === key, 60_000);

    // Each speaker's two Leases: the membership one labelled and advertising the split, the heartbeat one bare.
    const member = lease(`herald-speaker-${nodes[1]}`);
    expect(member.metadata.labels?.['app.kubernetes.io/component']).toBe('herald-speaker');
    expect(member.metadata.annotations?.['herald.io/heartbeat']).toMatch(/^\d+$/);
    const beat = lease(`herald-heartbeat-${nodes[1]}`);
    expect(beat.metadata.labels ?? {}).toEqual({});
    expect(beat.metadata.annotations ?? {}).toEqual({});
    // Over several renew intervals the heartbeat changes and the membership Lease does not (unless its
    // speaker lost the quorum, renewing fast, or fenced under load, writing a new life).
    const since = Date.now();
    const versions = nodes.map((n) => lease(`herald-speaker-${n}`).metadata.resourceVersion);
    await waitFor('heartbeat renewed twice', async () => {
      const v1 = lease(`herald-heartbeat-${nodes[1]}`).metadata.resourceVersion;
      await new Promise((r) => setTimeout(r, 2 * RENEW_MS + 500));
      return lease(`herald-heartbeat-${nodes[1]}`).metadata.resourceVersion !== v1 || undefined;
    }, 30_000);
    await new Promise((r) => setTimeout(r, 2 * DURATION_MS)); // two lease durations: fencing must come from the heartbeat
    // Kept unfenced by the heartbeat alone: a speaker that neither lost the quorum nor fenced (under
    // load one may) did not write its membership Lease for two lease durations. Were fencing fed by the
    // membership Lease only, every speaker would have fenced.
    const disturbed = (sp: SpeakerProcess): boolean => sp.logs.some((l) => (l.event === 'livenessNoQuorum' || l.event === 'fenced') && Date.parse(String(l.time)) >= since - DURATION_MS);
    const calm = speakers.map((sp, i) => ({ sp, i })).filter(({ sp }) => !disturbed(sp));
    expect(calm.length, speakers.map((sp) => `${sp.node}: ${sp.logs.filter((l) => l.event === 'fenced' || l.event === 'livenessNoQuorum').map((l) => `${String(l.event)} ${String(l.time)}`).join(', ')}`).join('\n')).toBeGreaterThan(0);
    for (const { sp, i } of calm) expect(lease(`herald-speaker-${sp.node}`).metadata.resourceVersion, sp.node).toBe(versions[i]);
    // Cut the owner from the API server (UDP fine): it fences within the lease duration, then stops
    // answering the liveness protocol; the others declare it dead and one of them takes the VIP.
    const cutAt = Date.now();
    proxy.cut();
    const fencedLog = await a.waitForLog('fenced', (l) => l.event === 'fenced' && Date.parse(String(l.time)) >= cutAt, DURATION_MS + 30_000);
    await a.waitForLog('silent', (l) => l.event === 'livenessSilent' && Date.parse(String(l.time)) >= cutAt, 10_000);
    const dead = await Promise.race([b, c].map((s) => s.waitForLog(`${cut} dead`, (l) => l.event === 'livenessDead' && l.reason === cut && Date.parse(String(l.time)) >= cutAt, 30_000)));
    const fencedAt = Date.parse(String(fencedLog.time)) - Number(/(\d+) ms after the deadline/.exec(String(fencedLog.reason))?.[1] ?? NaN);
    // Declared dead only after it fenced: it answered the liveness protocol until then (unless it stalled
    // under load, which its log says: a false verdict, ended by its new life).
    const stalled = a.logs.some((l) => (l.event === 'livenessStall' || l.event === 'livenessDeclaredDead') && Date.parse(String(l.time)) >= cutAt && Date.parse(String(l.time)) < fencedAt);
    if (!stalled) expect(Date.parse(String(dead.time)), `declared dead at ${String(dead.time)}, fenced at ${new Date(fencedAt).toISOString()}`).toBeGreaterThanOrEqual(fencedAt);
    const takeover = await Promise.race([b, c].map((s) => s.waitFor('takeover', (r: RecordLine) => r.op === 'setBalancer' && r.name === key && r.t >= cutAt, 30_000)));
    if (!stalled) expect(takeover.t).toBeGreaterThanOrEqual(fencedAt);

    // Back: a new life, unfenced, live again for the others.
    proxy.restore();
    await a.waitForLog('unfenced', (l) => l.event === 'unfenced' && Date.parse(String(l.time)) > cutAt, 30_000);
    await b.waitForLog(`${cut} back`, (l) => (l.event === 'livenessVerdictEnded' || l.event === 'speakerLive') && String(l.reason).startsWith(cut) && Date.parse(String(l.time)) > cutAt, 30_000);

    // An older speaker's Lease (no heartbeat annotation; the test renews it): the membership Leases are
    // renewed every renew interval again, since it expires silent Leases; deleted, they stop again.
    const old = `${ns}-old`;
    const oldLease = (renewTime: string): string =>
      JSON.stringify({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: `herald-speaker-${old}`, namespace: ns, labels: { 'app.kubernetes.io/component': 'herald-speaker' } },
        spec: { holderIdentity: old, leaseDurationSeconds: DURATION_MS / 1000, renewTime, acquireTime: '2026-12-07T00:00:00.000000Z' },
      });
    const periodicAt = Date.now();
    kubectl(['apply', '-f', '-'], { input: oldLease(new Date().toISOString().replace('Z', '000Z')) });
    const renewer = setInterval(() => kubectl(['apply', '-f', '-'], { input: oldLease(new Date().toISOString().replace('Z', '000Z')) }), RENEW_MS);
    try {
      await b.waitForLog('periodic', (l) => l.event === 'leasePeriodic' && Date.parse(String(l.time)) >= periodicAt, 30_000);
      const v = lease(`herald-speaker-${nodes[1]}`).metadata.resourceVersion;
      await waitFor('membership Lease renewed periodically', () => lease(`herald-speaker-${nodes[1]}`).metadata.resourceVersion !== v || undefined, 10 * RENEW_MS);
    } finally {
      clearInterval(renewer);
    }
    kubectl(['delete', 'lease', '-n', ns, `herald-speaker-${old}`]);
    await b.waitForLog('on change', (l) => l.event === 'leaseOnChange' && Date.parse(String(l.time)) >= periodicAt, 30_000);
  });
});
