// The daemons configured by MetalLB-style metallb.io objects (--config-source crds) on a real API
// server: objects applied with kubectl give Services addresses (controller) and announcements (a
// speaker, record announcer); a ConfigMap beside them is refused naming both; a breaking change of an
// IPAddressPool is refused with an Event on that pool, by the controller and the speaker, and stays
// refused across a controller restart, which keeps every address; reverting it is accepted.
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
});
