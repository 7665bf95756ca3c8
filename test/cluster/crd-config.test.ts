// The daemons configured by MetalLB-style metallb.io objects (--config-source crds) on a real API
// server: objects applied with kubectl give Services addresses (controller) and announcements (a
// speaker, record announcer); a ConfigMap beside them is refused naming both; a breaking change of an
// IPAddressPool is refused with an Event on that pool, by the controller and the speaker, and stays
// refused across a controller restart, which keeps every address; reverting it is accepted; a pool
// with serviceAllocation by namespace selector follows the Namespace's labels, and every Service carries
// metallb.io/ip-allocated-from-pool, which a restarted controller does not write again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, EventsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ControllerProcess, ingressOf, metricValue } from './controller-process.js';
import { installCrds } from './crd-objects.js';
import { freshNamespace, kubeConfig, kubeconfigPath, kubectl, waitFor } from './harness.js';
import { setEndpoints, SpeakerProcess } from './speaker-process.js';

const pool = (ns: string, addresses: string[]): string =>
  JSON.stringify({ apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'front', namespace: ns }, spec: { addresses } });
const l2 = (ns: string): string => JSON.stringify({ apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'l2', namespace: ns }, spec: { ipAddressPools: ['front'] } });

/** Warning Events about `kind` `name` with `reason` (events.k8s.io/v1, as the daemons write them). */
async function events(kc: KubeConfig, ns: string, kind: string, name: string, reason: string): Promise<string[]> {
  const list = await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace: ns });
  return list.items.filter((e) => e.regarding?.kind === kind && e.regarding.name === name && e.reason === reason).map((e) => e.note ?? '');
}

describe('--config-source crds: the daemons read metallb.io objects', () => {
  let kc: KubeConfig;
  let ns: string;
  let ctl: ControllerProcess;
  let speaker: SpeakerProcess;
  const startController = (): ControllerProcess => new ControllerProcess({ kubeconfig: kubeconfigPath(), namespace: ns, extraArgs: ['--config-source', 'crds'] });

  beforeAll(async () => {
    kc = kubeConfig();
    await installCrds();
    ns = await freshNamespace('crdcfg');
    kubectl(['apply', '-f', '-'], { input: `${pool(ns, ['192.0.2.0/28'])}\n${l2(ns)}` });
    ctl = startController();
    speaker = new SpeakerProcess({ kubeconfig: kubeconfigPath(), node: `${ns}-a`, namespace: ns, extraArgs: ['--config-source', 'crds'] });
    await ctl.leading(60_000);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([ctl?.kill('SIGKILL'), speaker?.kill('SIGKILL')]);
  });

  it('objects applied with kubectl configure both daemons; a Service gets an address from the IPAddressPool and is announced', async () => {
    const loaded = await ctl.waitForLog('config loaded', (l) => l.event === 'configLoaded', 60_000);
    const source = await ctl.waitForLog('config source', (l) => l.event === 'configSource');
    expect(source.reason).toContain('bgppeers/v1beta2');
    expect(source.reason).toContain('ipaddresspools/v1beta1');
    // The speaker runs the same config (same hash).
    await speaker.waitForLog('speaker config loaded', (l) => l.event === 'configLoaded' && l.config === loaded.config, 60_000);
    kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80, protocol: 'TCP' }] } }),
    });
    await setEndpoints(kc, ns, 'web', [{ node: speaker.node, ready: true }]);
    const core = kc.makeApiClient(CoreV1Api);
    const ips = await waitFor('web holds an address', async () => {
      const got = ingressOf(await core.readNamespacedService({ namespace: ns, name: 'web' }));
      return got.length === 1 ? got : undefined;
    }, 60_000);
    expect(ips[0]).toMatch(/^192\.0\.2\.([0-9]|1[0-5])$/);
    await waitFor('the speaker announces web', () => speaker.announced('layer2').get(`${ns}/web`)?.join(',') === ips[0], 60_000);
    expect(await events(kc, ns, 'IPAddressPool', 'front', 'ConfigLoaded')).not.toEqual([]);
  }, 180_000);

  it('a ConfigMap beside the objects is refused, naming both, until it goes', async () => {
    const hash = (await ctl.waitForLog('config loaded', (l) => l.event === 'configLoaded')).config;
    kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config', namespace: ns }, data: { config: 'address-pools: []\n' } }),
    });
    const both = /both the ConfigMap .*\/config and metallb\.io objects \(IPAddressPool .*\/front, L2Advertisement .*\/l2\)/;
    const refused = await ctl.waitForLog('both sources refused', (l) => l.event === 'configInvalid' && both.test(String(l.reason)), 60_000);
    expect(refused.config).toBe(hash);
    await speaker.waitForLog('speaker refuses both sources', (l) => l.event === 'configInvalid' && both.test(String(l.reason)), 60_000);
    await waitFor('ConfigInvalid Event on the ConfigMap', async () => (await events(kc, ns, 'ConfigMap', 'config', 'ConfigInvalid')).some((n) => both.test(n)), 30_000);
    expect(await metricValue(await ctl.metricsUrl(), 'herald_config_stale')).toBe(1);
    kubectl(['delete', '-n', ns, 'configmap', 'config']);
    await waitFor('the controller is no longer stale', async () => (await metricValue(await ctl.metricsUrl(), 'herald_config_stale')) === 0, 30_000);
    await waitFor('the speaker is no longer stale', async () => (await metricValue(await speaker.metricsUrl(), 'herald_config_stale')) === 0, 30_000);
  }, 120_000);

  it('a breaking IPAddressPool change is refused with an Event on the pool, by both daemons, and across a controller restart; reverting is accepted', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const before = ingressOf(await core.readNamespacedService({ namespace: ns, name: 'web' }));
    expect(before).toHaveLength(1);
    kubectl(['apply', '-f', '-'], { input: pool(ns, ['198.51.100.0/28']) });
    const refusal = (l: { event?: string; service?: string; ip?: string }): boolean => l.event === 'configRefused' && l.service === `${ns}/web` && l.ip === before[0];
    await ctl.waitForLog('breaking change refused', refusal, 60_000);
    await speaker.waitForLog('speaker refuses the breaking change', refusal, 60_000);
    await waitFor('ConfigRefused Event on IPAddressPool front', async () => (await events(kc, ns, 'IPAddressPool', 'front', 'ConfigRefused')).some((n) => n.includes(`${ns}/web ${before[0]}`)), 30_000);
    expect(await metricValue(await ctl.metricsUrl(), 'herald_config_stale')).toBe(1);

    // A new controller (the old one killed) restores from the statuses and refuses the same change.
    await ctl.kill('SIGKILL');
    ctl = startController();
    await ctl.leading(60_000);
    await ctl.waitForLog('breaking change refused after the restart', refusal, 60_000);
    expect(ingressOf(await core.readNamespacedService({ namespace: ns, name: 'web' }))).toEqual(before);
    expect(speaker.announced('layer2').get(`${ns}/web`)).toEqual(before);

    kubectl(['apply', '-f', '-'], { input: pool(ns, ['192.0.2.0/28', '198.51.100.0/28']) });
    await ctl.waitForLog('the widened pool is loaded', (l) => l.event === 'configLoaded', 60_000);
    await waitFor('the controller is no longer stale', async () => (await metricValue(await ctl.metricsUrl(), 'herald_config_stale')) === 0, 30_000);
    await waitFor('the speaker is no longer stale', async () => (await metricValue(await speaker.metricsUrl(), 'herald_config_stale')) === 0, 30_000);
    expect(ingressOf(await core.readNamespacedService({ namespace: ns, name: 'web' }))).toEqual(before);
  }, 240_000);

  it('serviceAllocation by namespace selector: the pool follows the Namespace\'s labels, holders never move, metallb.io/ip-allocated-from-pool names the pool', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const read = (name: string) => core.readNamespacedService({ namespace: ns, name });
    const service = (name: string, annotations: Record<string, string> = {}): string =>
      JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns, annotations }, spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ port: 80, protocol: 'TCP' }] } });
    const FROM_POOL = 'metallb.io/ip-allocated-from-pool';
    // web (from the first test) names its pool once the controller is up: restored or allocated, the same annotation.
    await waitFor('web is annotated with its pool', async () => (await read('web')).metadata?.annotations?.[FROM_POOL] === 'front', 30_000);

    kubectl(['apply', '-f', '-'], {
      input: [
        JSON.stringify({
          apiVersion: 'metallb.io/v1beta1',
          kind: 'IPAddressPool',
          metadata: { name: 'team', namespace: ns },
          spec: { addresses: ['203.0.113.0/28'], serviceAllocation: { priority: 1, namespaceSelectors: [{ matchLabels: { team: 'a' } }] } },
        }),
        JSON.stringify({ apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'l2-team', namespace: ns }, spec: { ipAddressPools: ['team'] } }),
      ].join('\n'),
    });
    await ctl.waitForLog('the team pool is loaded', (l) => l.event === 'configLoaded' && /2 pools/.test(String(l.reason)), 60_000);
    // The namespace has no team label yet: a Service takes the open pool; one naming the team pool is refused.
    kubectl(['apply', '-f', '-'], { input: `${service('early')}\n${service('named', { 'metallb.io/address-pool': 'team' })}` });
    const early = await waitFor('early holds an address', async () => {
      const got = ingressOf(await read('early'));
      return got.length === 1 ? got : undefined;
    }, 60_000);
    expect(early[0]).toMatch(/^(192\.0\.2|198\.51\.100)\./);
    await ctl.waitForLog('named is refused', (l) => l.event === 'allocationFailed' && l.service === `${ns}/named` && /does not serve this Service/.test(String(l.reason)), 60_000);
    await waitFor('early is annotated with front', async () => (await read('early')).metadata?.annotations?.[FROM_POOL] === 'front', 30_000);

    // Labelling the Namespace retries the pending Service; new Services take the team pool (priority); early keeps its address.
    kubectl(['label', 'namespace', ns, 'team=a']);
    const named = await waitFor('named gets a team address once the Namespace is labelled', async () => {
      const got = ingressOf(await read('named'));
      return got.length === 1 ? got : undefined;
    }, 60_000);
    expect(named[0]).toMatch(/^203\.0\.113\./);
    kubectl(['apply', '-f', '-'], { input: service('late') });
    const late = await waitFor('late holds an address', async () => {
      const got = ingressOf(await read('late'));
      return got.length === 1 ? got : undefined;
    }, 60_000);
    expect(late[0]).toMatch(/^203\.0\.113\./);
    await waitFor('late is annotated with team', async () => (await read('late')).metadata?.annotations?.[FROM_POOL] === 'team', 30_000);
    expect(ingressOf(await read('early'))).toEqual(early);

    // A restarted controller restores every address and writes nothing (annotations and statuses already right).
    const rv = new Map((await core.listNamespacedService({ namespace: ns })).items.map((s) => [s.metadata?.name, s.metadata?.resourceVersion]));
    await ctl.kill('SIGKILL');
    ctl = startController();
    await ctl.leading(60_000);
    await ctl.waitForLog('config loaded after the restart', (l) => l.event === 'configLoaded', 60_000);
    await new Promise((r) => setTimeout(r, 1500)); // queued reconciles run; a write would show in a resourceVersion
    for (const s of (await core.listNamespacedService({ namespace: ns })).items) expect(s.metadata?.resourceVersion, s.metadata?.name).toBe(rv.get(s.metadata?.name));
  }, 240_000);
});
