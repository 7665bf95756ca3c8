// A controller on the ConfigMap (the default source) notices the metallb.io CRDs being installed and
// deleted while it runs (discovery again every --crd-discovery-interval), without a restart: once
// installed it watches the objects (an IPAddressPool beside the ConfigMap is refused naming both); an
// IPAddressPool without the ConfigMap is named as not read (log, Warning Event ConfigNotRead on the
// pool); once the CRDs are deleted it watches them no more. Its own API server: installing and
// deleting cluster-scoped CRDs would disturb the other test files sharing the run's cluster.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EventsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { TestCluster } from './cluster.js';
import { ControllerProcess, configMapYaml, type LogLine } from './controller-process.js';
import { CRDS, KINDS } from './crd-objects.js';
import { freshNamespace, kubeConfig, kubectl, waitFor } from './harness.js';

const pool = (ns: string): string =>
  JSON.stringify({ apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'front', namespace: ns }, spec: { addresses: ['198.51.100.0/28'] } });

describe('--config-source configmap: metallb.io CRDs installed and deleted at runtime', () => {
  let cluster: TestCluster;
  let kc: KubeConfig;
  let ns: string;
  let ctl: ControllerProcess;
  const k = (args: string[], input?: string): string => kubectl(args, { kubeconfig: cluster.kubeconfig, input });
  /** Log lines after `from` (an index in ctl.lines) matching `pred`. */
  const after = (from: number, what: string, pred: (l: LogLine) => boolean, timeoutMs = 60_000): Promise<LogLine> => {
    const start = from;
    return ctl.waitForLog(what, (l) => ctl.lines.indexOf(l) >= start && pred(l), timeoutMs);
  };

  beforeAll(async () => {
    cluster = await TestCluster.start();
    kc = kubeConfig(cluster.kubeconfig);
    ns = await freshNamespace('crddisc', kc);
    k(['apply', '-f', '-'], configMapYaml(ns, { web: ['192.0.2.0/28'] }));
    ctl = new ControllerProcess({ kubeconfig: cluster.kubeconfig, namespace: ns, extraArgs: ['--crd-discovery-interval', '1s'] });
    await ctl.leading(90_000);
  }, 180_000);

  afterAll(async () => {
    await ctl?.kill('SIGKILL');
    await cluster?.stop();
  });

  it('CRDs installed later are watched: an IPAddressPool beside the ConfigMap is refused naming both', async () => {
    await ctl.waitForLog('config loaded from the ConfigMap', (l) => l.event === 'configLoaded', 60_000);
    const first = await ctl.waitForLog('config source at start', (l) => l.event === 'configSource', 60_000);
    expect(first.reason).toBe('no metallb.io kinds served');
    const mark = ctl.lines.length;
    k(['apply', '-f', CRDS]);
    for (const name of KINDS.split(',')) {
      await waitFor(`CRD ${name} Established`, () => /True/.test(k(['get', 'crd', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}'])), 60_000);
    }
    await after(mark, 'the kinds seen at runtime', (l) => l.event === 'configSource' && String(l.reason).includes('ipaddresspools/v1beta1') && String(l.reason).includes('bgppeers/v1beta2') && /now served/.test(String(l.msg)), 60_000);
    k(['apply', '-f', '-'], pool(ns));
    const refused = await after(mark, 'both sources refused', (l) => l.event === 'configInvalid' && /both the ConfigMap .*\/config and metallb\.io objects \(IPAddressPool .*\/front\)/.test(String(l.reason)), 60_000);
    expect(refused.reason).toContain('--config-source configmap');
  }, 180_000);

  it('an IPAddressPool without the ConfigMap is named as not read: log and a ConfigNotRead Event on the pool', async () => {
    const mark = ctl.lines.length;
    k(['delete', '-n', ns, 'configmap', 'config']);
    const missing = await after(mark, 'missing, naming the unread pool', (l) => l.event === 'configMissing' && String(l.reason).includes('are not read'), 60_000);
    expect(missing.reason).toContain(`IPAddressPool ${ns}/front`);
    expect(missing.reason).toContain('--config-source crds');
    const events = kc.makeApiClient(EventsV1Api);
    await waitFor('Warning ConfigNotRead on IPAddressPool front', async () => {
      const list = await events.listNamespacedEvent({ namespace: ns });
      return list.items.some((e) => e.reason === 'ConfigNotRead' && e.type === 'Warning' && e.regarding?.kind === 'IPAddressPool' && e.regarding.name === 'front');
    }, 30_000);
  }, 120_000);

  it('CRDs deleted at runtime are watched no more', async () => {
    const mark = ctl.lines.length;
    k(['delete', '-f', CRDS, '--wait=true']);
    const gone = await after(mark, 'the kinds gone', (l) => l.event === 'configSource' && /no longer served/.test(String(l.msg)) && !String(l.reason).includes('ipaddresspools'), 90_000);
    expect(gone.msg).toContain('ipaddresspools/v1beta1');
    // The pool went with its CRD: missing, with nothing unread any more.
    await after(mark, 'missing without unread objects', (l) => l.event === 'configMissing' && !String(l.reason).includes('are not read'), 60_000);
  }, 150_000);
});
