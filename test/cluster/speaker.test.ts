// Speaker processes against the real API server, announcers observed through the protocol
// interface (--announcer record): one layer2 owner per VIP, takeover after SIGKILL within lease
// duration + renew, takeover after SIGTERM on the Lease deletion, Local policy following endpoints, and
// self-fencing of a speaker cut off from the API server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { rankSpeakers } from '../../speaker/layer2-owner.js';
import { metricValue } from './controller-process.js';
import { freshNamespace, kubeConfig, kubeconfigPath, kubectl, waitFor } from './harness.js';
import { installCrds } from './crd-objects.js';
import type { CuttableProxy } from './proxy.js';
import { proxiedNamespace, type ProxiedNamespace } from './proxied-namespace.js';
import { createServiceWithIps, setEndpoints, SpeakerProcess, speakerConfigYaml, type RecordLine } from './speaker-process.js';

const LEASE_RENEW_MS = 1000;
const LEASE_DURATION_MS = 3000;
// Timers, watch delivery and round trips on a loaded machine (CI runs ~1,500 tests on 2 cores; 6.1 s
// for a takeover was seen at load 22): a wide margin on the durations bounded here, whose causes are
// checked from the daemons' logs; the tight figures are the benchmarks' (bench/).
const SCHEDULING_SLACK_MS = 5000;

/** Owners of `service` now, by node. */
function owners(speakers: SpeakerProcess[], service: string): string[] {
  return speakers.filter((s) => s.running && s.announced().has(service)).map((s) => s.node);
}

/**
 * Every moment two processes announced `service` at once (after `since`), from their records'
 * timestamps. Before the speakers agree on the live set (start-up) or while one endpoint update
 * reaches them at slightly different times, a handover can overlap by milliseconds; the steady
 * state and fencing cannot.
 */
function overlaps(speakers: SpeakerProcess[], service: string, since = 0): string[] {
  const intervals: { node: string; from: number; to: number }[] = [];
  for (const s of speakers) {
    let from: number | undefined;
    for (const r of s.records) {
      if (r.announcer !== 'layer2' || r.name !== service) continue;
      if (r.op === 'setBalancer' && from === undefined) from = r.t;
      if (r.op === 'deleteBalancer' && from !== undefined) {
        intervals.push({ node: s.node, from, to: r.t });
        from = undefined;
      }
    }
    if (from !== undefined) intervals.push({ node: s.node, from, to: s.running ? Infinity : from });
  }
  const out: string[] = [];
  for (let i = 0; i < intervals.length; i++) {
    for (let j = i + 1; j < intervals.length; j++) {
      const a = intervals[i];
      const b = intervals[j];
      if (a.node !== b.node && a.from < b.to && b.from < a.to && Math.min(a.to, b.to) > since) out.push(`${a.node} [${a.from}, ${a.to}) and ${b.node} [${b.from}, ${b.to})`);
    }
  }
  return out;
}

/** What explains a move: the speakers' fencing, membership and claim log lines since `since` (ms), in time order. */
function history(speakers: SpeakerProcess[], since: number): string {
  const wanted = new Set(['fenced', 'unfenced', 'leaseRenewFailed', 'speakerGone', 'speakerLive', 'membershipFrozen', 'membershipResumed', 'layer2ClaimsGated', 'layer2ClaimsResumed', 'nodeAssigned', 'serviceWithdrawn', 'servicesWithdrawn']);
  return speakers
    .flatMap((s) => s.logs.filter((l) => wanted.has(String(l.event)) && Date.parse(String(l.time)) >= since).map((l) => ({ t: Date.parse(String(l.time)), text: `${String(l.time)} ${s.node} ${String(l.event)} ${l.service ?? ''} ${l.reason ?? ''}` })))
    .sort((a, b) => a.t - b.t)
    .map((x) => x.text)
    .join('\n');
}

/** Whether `speaker` fenced itself since `since` (ms): under heavy load a renewal can take longer than the 3 s lease. */
function fencedSince(speaker: SpeakerProcess, since: number): boolean {
  return speaker.logs.some((l) => l.event === 'fenced' && Date.parse(String(l.time)) >= since);
}

async function startSpeakers(ns: string, nodes: string[], kubeconfig = kubeconfigPath()): Promise<SpeakerProcess[]> {
  const speakers = nodes.map((node) => new SpeakerProcess({ kubeconfig, node, namespace: ns }));
  // Each counts all of them live before the test goes on.
  await Promise.all(speakers.map((s) => Promise.all(nodes.map((n) => s.waitForLog(`${n} live`, (l) => l.event === 'speakerLive' && l.reason === `${n}: renewed`, 60_000)))));
  // Let the last membership change be processed everywhere.
  await new Promise((r) => setTimeout(r, 500));
  return speakers;
}

describe('speaker processes (record announcer)', () => {
  let kc: KubeConfig;
  let ns: string;
  let nodes: string[];
  let speakers: SpeakerProcess[] = [];
  /** When every speaker counted all of them live: from then on ownership must not move. */
  let converged = 0;
  const vips = ['192.0.2.10', '192.0.2.11', '192.0.2.12', '192.0.2.13', '192.0.2.14', '192.0.2.15'];

  beforeAll(async () => {
    await installCrds();
    kc = kubeConfig();
    ns = await freshNamespace('speaker');
    nodes = ['a', 'b', 'c'].map((x) => `${ns}-${x}`);
    kubectl(['apply', '-f', '-'], { input: speakerConfigYaml(ns, { l2: { protocol: 'layer2', addresses: ['192.0.2.0/24'] }, l2b: { protocol: 'layer2', addresses: ['198.51.100.0/24'] } }) });
    for (const [i, ip] of vips.entries()) {
      await createServiceWithIps(kc, ns, `svc-${i}`, [ip]);
      // Endpoints on a node that runs no speaker: Cluster policy only needs one ready anywhere.
      await setEndpoints(kc, ns, `svc-${i}`, [{ node: 'elsewhere', ready: true }]);
    }
    speakers = await startSpeakers(ns, nodes);
    converged = Date.now();
  });
  afterAll(async () => {
    await Promise.all(speakers.map((s) => s.kill('SIGKILL')));
  });

  it('exactly one live speaker owns each VIP: the first of the ranking, with one nodeAssigned Event', async () => {
    for (const [i, ip] of vips.entries()) {
      const expected = rankSpeakers(nodes, ip)[0];
      await waitFor(`owner of svc-${i}`, () => owners(speakers, `${ns}/svc-${i}`).length === 1);
      expect(owners(speakers, `${ns}/svc-${i}`)).toEqual([expected]);
    }
    // Steady: resyncs and renewals change nothing. The one exception is the owner's own fence (seen at
    // load > 30 with 3 CPU hogs: its renewal took longer than the 3 s lease): it withdraws and, once it
    // renewed and listed the holders again, announces again; nobody else may announce meanwhile.
    const settled = Date.now();
    await new Promise((r) => setTimeout(r, 2 * LEASE_RENEW_MS));
    for (const [i, ip] of vips.entries()) {
      const expected = rankSpeakers(nodes, ip)[0];
      const moves = speakers.flatMap((s) => s.records.filter((r) => r.name === `${ns}/svc-${i}` && r.t > settled).map((r) => ({ ...r, node: s.node })));
      const unexplained = moves.filter((m) => !(m.node === expected && fencedSince(speakers.find((s) => s.node === expected)!, converged)));
      expect(unexplained, history(speakers, converged)).toEqual([]);
      await waitFor(`owner of svc-${i} after any fence`, () => owners(speakers, `${ns}/svc-${i}`).join() === expected, 30_000);
      expect(overlaps(speakers, `${ns}/svc-${i}`, converged), history(speakers, converged)).toEqual([]);
    }
    // nodeAssigned from each owner, written once (not once per resync: no repeat count).
    await waitFor('nodeAssigned Events', () => {
      const out = kubectl(['get', 'events', '-n', ns, '-o', 'json']);
      const items = (JSON.parse(out) as { items: { reason?: string; message?: string; count?: number; involvedObject?: { name?: string } }[] }).items;
      const assigned = items.filter((e) => e.reason === 'nodeAssigned');
      // Repeated only by an owner that fenced and announced again (above).
      const repeated = assigned.filter((e) => (e.count ?? 1) > 1 && !speakers.some((s) => fencedSince(s, converged) && e.message?.includes(`"${s.node}"`)));
      if (repeated.length > 0) throw new Error(`repeated nodeAssigned: ${JSON.stringify(repeated)}\n${history(speakers, converged)}`);
      return vips.every((ip, i) => assigned.some((e) => e.involvedObject?.name === `svc-${i}` && e.message?.includes(`"${rankSpeakers(nodes, ip)[0]}"`)));
    });
    const url = await speakers[0].metricsUrl();
    const mine = [...speakers[0].announced().keys()];
    for (const service of mine) expect(await metricValue(url, 'herald_speaker_announced', `service="${service}"`)).toBe(1);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    // Every informer the speaker runs reports how long ago its list/watch showed life (one minute of bookmarks at most).
    for (const resource of ['services', 'nodes', 'leases', 'endpointslices', 'configmaps']) {
      expect(await metricValue(url, 'herald_watch_last_event_seconds', `resource="${resource}"`), resource).toBeLessThan(120);
    }
    expect(await metricValue(url, 'herald_k8s_api_throttled_total')).toBe(0);
  });

  it('refuses a config that would take a Service\'s VIP away, and YAML garbage; keeps announcing under the old one', async () => {
    const owner = speakers.find((s) => s.announced().size > 0)!;
    const before = owner.announced();
    const since = Date.now();
    kubectl(['apply', '-f', '-'], { input: speakerConfigYaml(ns, { l2b: { protocol: 'layer2', addresses: ['198.51.100.0/24'] } }) });
    const refused = await owner.waitForLog('configRefused', (l) => l.event === 'configRefused' && Date.parse(String(l.time)) >= since - 1000);
    // The controller's rule on the statuses: every speaker names every Service the config breaks, announced here or not.
    expect(String(refused.service)).toMatch(new RegExp(`^${ns}/svc-\\d$`));
    expect(refused.reason).toMatch(/in no pool of the new config/);
    kubectl(['apply', '-f', '-'], { input: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\n  namespace: ${ns}\ndata:\n  config: |\n    address-pools: [\n` });
    const invalid = await owner.waitForLog('configInvalid', (l) => l.event === 'configInvalid' && Date.parse(String(l.time)) >= since - 1000);
    expect(invalid.reason).toMatch(/config/);
    expect(await metricValue(await owner.metricsUrl(), 'herald_config_stale')).toBe(1);
    // Nothing withdrawn for the config. (On a heavily loaded machine a 3 s Lease can lapse: the speaker
    // then fences, withdrawing with reason 'fenced', and announces again once renewed; not the config's doing.)
    expect(owner.records.filter((r) => r.op === 'deleteBalancer' && r.t >= since && r.reason !== 'fenced')).toEqual([]);
    await waitFor('the owner announcing what it did before', () => JSON.stringify([...owner.announced()].sort()) === JSON.stringify([...before].sort()), 30_000);
    // Back to the config in force: not stale any more.
    kubectl(['apply', '-f', '-'], { input: speakerConfigYaml(ns, { l2: { protocol: 'layer2', addresses: ['192.0.2.0/24'] }, l2b: { protocol: 'layer2', addresses: ['198.51.100.0/24'] } }) });
    await waitFor('config_stale 0', async () => (await metricValue(await owner.metricsUrl(), 'herald_config_stale')) === 0);
  });

  it('Local policy: only a node with a ready endpoint owns the VIP, and ownership follows the endpoints', async () => {
    const svc = 'local';
    const key = `${ns}/${svc}`;
    const ip = '198.51.100.20';
    await createServiceWithIps(kc, ns, svc, [ip], 'Local');
    // Pick the endpoint node that does NOT rank first, so Cluster ranking would have chosen another.
    const ranked = rankSpeakers(nodes, ip);
    await setEndpoints(kc, ns, svc, [{ node: ranked[2], ready: true }]);
    await waitFor('Local owner', () => owners(speakers, key).join() === ranked[2]);
    await setEndpoints(kc, ns, svc, [{ node: ranked[1], ready: true }]);
    const prev = speakers.find((s) => s.node === ranked[2])!;
    await prev.waitFor('withdrawal noLocalEndpoints', (r: RecordLine) => r.op === 'deleteBalancer' && r.name === key && r.reason === 'noLocalEndpoints');
    await waitFor('new Local owner', () => owners(speakers, key).join() === ranked[1]);
    // Not ready anywhere: nobody announces it.
    await setEndpoints(kc, ns, svc, [{ node: ranked[1], ready: false }]);
    const last = speakers.find((s) => s.node === ranked[1])!;
    await last.waitFor('withdrawal noEndpoints', (r: RecordLine) => r.op === 'deleteBalancer' && r.name === key && r.reason === 'noEndpoints');
    expect(owners(speakers, key)).toEqual([]);
  });

  it('SIGKILL of an owner: another speaker takes its VIPs within lease duration + renew', async () => {
    const victim = speakers.find((s) => s.announced().size > 0)!;
    const lost = [...victim.announced().keys()];
    const killedAt = Date.now();
    await victim.kill('SIGKILL');
    const others = speakers.filter((s) => s !== victim);
    for (const service of lost) {
      const ip = vips[Number(service.split('svc-')[1])];
      const expected = rankSpeakers(others.map((s) => s.node), ip)[0];
      const heir = others.find((s) => s.node === expected)!;
      const rec = await heir.waitFor(`takeover of ${service}`, (r: RecordLine) => r.op === 'setBalancer' && r.name === service && r.t > killedAt, 15_000);
      // On the heir's own verdict that the victim's Lease expired, not before it.
      const gone = await heir.waitForLog(`${victim.node} expired`, (l) => l.event === 'speakerGone' && l.reason === `${victim.node}: expired`);
      expect(rec.t).toBeGreaterThanOrEqual(Date.parse(String(gone.time)) - 5);
      expect(rec.t - killedAt).toBeLessThanOrEqual(LEASE_DURATION_MS + LEASE_RENEW_MS + SCHEDULING_SLACK_MS);
      expect(owners(speakers, service)).toEqual([expected]);
    }
    speakers = others;
  });

  it('SIGTERM of an owner: it withdraws, deletes its Lease, and the next owner announces on the deletion (not the expiry)', async () => {
    const victim = speakers.find((s) => s.announced().size > 0)!;
    const service = [...victim.announced().keys()][0];
    const heir = speakers.find((s) => s !== victim)!;
    const code = await victim.kill('SIGTERM');
    expect(code).toBe(0);
    const withdrawn = victim.records.find((r) => r.op === 'deleteBalancer' && r.name === service && r.reason === 'shutdown');
    expect(withdrawn).toBeDefined();
    const rec = await heir.waitFor(`takeover of ${service}`, (r: RecordLine) => r.op === 'setBalancer' && r.name === service && r.t >= withdrawn!.t, 5000);
    // Handed over on the Lease's deletion, not on its expiry: the heir saw it deleted. The delay is the
    // watch's delivery (~100 ms on a quiet machine, more on a loaded one): bounded by the lease duration.
    const gone = await heir.waitForLog(`${victim.node} gone`, (l) => l.event === 'speakerGone' && String(l.reason).startsWith(`${victim.node}: `));
    expect(gone.reason).toBe(`${victim.node}: deleted`);
    expect(rec.t - withdrawn!.t).toBeLessThanOrEqual(LEASE_DURATION_MS);
    expect(rec.t).toBeGreaterThanOrEqual(withdrawn!.t);
    expect(kubectl(['get', 'leases', '-n', ns, '-o', 'name'])).not.toContain(`herald-speaker-${victim.node}`);
    speakers = [heir];
  });
});

// The fencing test's Lease: renew 1 s, duration 8 s. With 3 s, at load > 30 with 3 CPU hogs, the
// cut-off speaker's renewals through the in-test proxy once lapsed *before* the cut: the other took
// the VIP over from it, holds it (no flap back, by design), and the cut then had nothing to move.
const FENCE_LEASE_DURATION_MS = 8000;

describe('speaker fencing (API server cut off through a proxy)', () => {
  let kc: KubeConfig;
  let ns: string;
  let proxy: CuttableProxy;
  let dir: string;
  let setUp: ProxiedNamespace | undefined;
  const speakers: SpeakerProcess[] = [];

  beforeAll(async () => {
    setUp = await proxiedNamespace('fence');
    ({ kc, ns, proxy, dir } = setUp);
  });
  afterAll(async () => {
    await Promise.all(speakers.map((s) => s.kill('SIGKILL')));
    await setUp?.close();
  });

  /** The ServiceL2Status objects of `service` (name) in `ns`: `node` with a life, `node<-failed` for a takeover. */
  const statusObjects = (service: string): string[] => {
    const out = kubectl(['get', 'servicel2statuses', '-n', ns, '-l', `metallb.io/service-name=${service}`, '-o', 'json']);
    const items = (JSON.parse(out) as { items: Array<{ metadata: { annotations?: Record<string, string> }; status?: { node?: string } }> }).items;
    return items
      .filter((i) => i.metadata.annotations?.['herald.io/speaker-life'] !== undefined)
      .map((i) => `${i.status?.node ?? ''}${i.metadata.annotations?.['herald.io/took-over-from'] !== undefined ? `<-${i.metadata.annotations['herald.io/took-over-from']}` : ''}`)
      .sort();
  };

  it('a speaker that cannot renew its Lease stops answering before the other takes over, resumes after, and does not take its VIP back', async () => {
    const cut = `${ns}-cut`;
    const other = `${ns}-ok`;
    // A VIP the cut-off speaker owns while both are live.
    let ip = '';
    for (let i = 1; i < 250 && !ip; i++) if (rankSpeakers([cut, other], `203.0.113.${i}`)[0] === cut) ip = `203.0.113.${i}`;
    kubectl(['apply', '-f', '-'], { input: speakerConfigYaml(ns, { l2: { protocol: 'layer2', addresses: ['203.0.113.0/24'] } }) });
    await createServiceWithIps(kc, ns, 'web', [ip]);
    await setEndpoints(kc, ns, 'web', [{ node: 'elsewhere', ready: true }]);
    const key = `${ns}/web`;
    const lease = { leaseRenew: `${LEASE_RENEW_MS}ms`, leaseDuration: `${FENCE_LEASE_DURATION_MS}ms` };
    const a = new SpeakerProcess({ kubeconfig: join(dir, 'kubeconfig'), node: cut, namespace: ns, ...lease });
    const b = new SpeakerProcess({ kubeconfig: kubeconfigPath(), node: other, namespace: ns, ...lease });
    speakers.push(a, b);
    await a.waitFor('owner', (r: RecordLine) => r.op === 'setBalancer' && r.name === key, 60_000);
    await b.waitForLog(`${cut} live`, (l) => l.event === 'speakerLive' && l.reason === `${cut}: renewed`, 60_000);
    // b must have seen the cut speaker *renew* (not just its Lease listed once) to count its silence as a
    // failure it takes the VIP over from: a renewal committed after b logged it live reaches b's watch
    // before b can expire it, as the watch delivers in commit order.
    const leaseVersion = (): string => kubectl(['get', 'lease', '-n', ns, `herald-speaker-${cut}`, '-o', 'jsonpath={.metadata.resourceVersion}']);
    const seenVersion = leaseVersion();
    await waitFor(`${cut} renewed once more`, () => leaseVersion() !== seenVersion, 30_000);

    // The premise: the speaker about to be cut owns the VIP, alone.
    expect(owners(speakers, key), history(speakers, 0)).toEqual([cut]);
    const cutAt = Date.now();
    proxy.cut();
    const fenced = await a.waitFor('fenced withdrawal', (r: RecordLine) => r.op === 'deleteBalancer' && r.name === key && r.reason === 'fenced', FENCE_LEASE_DURATION_MS + 15_000);
    const takeover = await b.waitFor('takeover', (r: RecordLine) => r.op === 'setBalancer' && r.name === key && r.t >= cutAt, FENCE_LEASE_DURATION_MS + 15_000);
    // Fenced no later than the lease duration after the cut, and before the other speaker answers. It
    // stops answering at its deadline (every answer checks it), which its log gives as the time of the
    // line less how late its timer fired; the withdrawal record follows at the next decision pass, and
    // on a loaded machine both can come a few ms after the other's takeover (seen at load 28 with hogs).
    const fencedLog = await a.waitForLog('fenced', (l) => l.event === 'fenced' && Date.parse(String(l.time)) >= cutAt, 5000);
    const fencedAt = Date.parse(String(fencedLog.time)) - Number(/(\d+) ms after the deadline/.exec(String(fencedLog.reason))?.[1] ?? NaN);
    const report = (): string => `fenced at ${fencedAt} (${String(fencedLog.reason)}), withdrawal recorded at ${fenced.t}, takeover at ${takeover.t}\n${history(speakers, cutAt)}`;
    expect(fenced.t - cutAt, report()).toBeLessThanOrEqual(FENCE_LEASE_DURATION_MS + SCHEDULING_SLACK_MS);
    expect(fencedAt, report()).toBeLessThanOrEqual(takeover.t);
    expect(await metricValue(await a.metricsUrl(), 'herald_lease_renew_failures_total')).toBeGreaterThan(0);

    // The taker's object names the failed owner: it holds the VIP (layer2 holders, on by default).
    await waitFor('takeover recorded', () => statusObjects('web').includes(`${other}<-${cut}`), 30_000);

    // Back in contact: it renews (a new life) and the other sees it live again. Before the holders tier
    // it took the VIP back (it ranks first): a second move that resets every connection through the
    // interim owner. Now the VIP stays with the node that took it over (issue 13.3: no flap back after
    // a failure); the returned speaker deletes its object of the previous life once it decided.
    proxy.restore();
    await a.waitForLog('unfenced', (l) => l.event === 'unfenced' && Date.parse(String(l.time)) > cutAt, 30_000);
    // Its watches resume from before the cut: it claims nothing until it listed the objects and Leases
    // again (the claim gate; without it, it once claimed the VIP back before b's object reached it).
    await a.waitForLog('claims gated', (l) => l.event === 'layer2ClaimsGated' && Date.parse(String(l.time)) > cutAt, 30_000);
    await a.waitForLog('claims resumed', (l) => l.event === 'layer2ClaimsResumed' && Date.parse(String(l.time)) > cutAt, 60_000);
    await b.waitForLog(`${cut} live again`, (l) => l.event === 'speakerLive' && l.reason === `${cut}: renewed` && Date.parse(String(l.time)) > cutAt, 30_000);
    await waitFor('the returned speaker\'s old object deleted', () => statusObjects('web').join() === `${other}<-${cut}`, 30_000);
    // A few renewals more for a (wrong) claim to show.
    await new Promise((r) => setTimeout(r, 3 * LEASE_RENEW_MS));
    expect(owners(speakers, key), report()).toEqual([other]);
    expect(a.records.filter((r) => r.op === 'setBalancer' && r.name === key && r.t >= cutAt), report()).toEqual([]);
    expect(b.records.filter((r) => r.op === 'deleteBalancer' && r.name === key && r.t >= takeover.t), report()).toEqual([]);
  });
});
