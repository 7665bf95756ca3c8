// Issue 16.3's target: watch recovery after a kube-apiserver restart <= 5 s. A private cluster; the
// controller (a process) reaches the API server through a relay that refuses connections during a
// 30 s restart; a Service is created when the server is back. Prints, one figure per line, the time
// from the server being back to that Service's address in its status, per run.
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { configMapYaml, ControllerProcess, ingressOf } from '../cluster/controller-process.js';
import { TestCluster } from '../cluster/cluster.js';
import { CuttableProxy } from '../cluster/proxy.js';
import { kubectl, waitFor } from '../cluster/harness.js';

const RUNS = Number(process.env.HERALD_RECOVERY_RUNS ?? 2);
const OUTAGE_MS = 30_000;
const ns = 'recovery';
const cluster = await TestCluster.start();
const url = new URL(cluster.server);
const proxy = await CuttableProxy.start(url.hostname, Number(url.port));
let ctl: ControllerProcess | undefined;
try {
  const kc = new KubeConfig();
  kc.loadFromFile(cluster.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  await core.createNamespace({ body: { metadata: { name: ns } } });
  kubectl(['apply', '-f', '-'], { input: configMapYaml(ns, { default: ['192.0.2.0/26'] }), kubeconfig: cluster.kubeconfig });
  const kubeconfig = proxy.kubeconfigThrough(cluster.kubeconfig);
  ctl = new ControllerProcess({ kubeconfig, namespace: ns, leaseDuration: '15s' });
  await ctl.leading(120_000);
  const ipOf = async (name: string): Promise<string[]> => ingressOf(await core.readNamespacedService({ namespace: ns, name }));
  for (let run = 0; run < RUNS; run++) {
    const t0 = Date.now();
    proxy.cut();
    await cluster.restartApiserver();
    const left = OUTAGE_MS - (Date.now() - t0);
    if (left > 0) await new Promise((r) => setTimeout(r, left));
    proxy.restore();
    const back = Date.now();
    const name = `after-${run}`;
    await core.createNamespacedService({ namespace: ns, body: { metadata: { name }, spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ port: 80, protocol: 'TCP' }] } } });
    await waitFor(`${name} to get an address`, async () => (await ipOf(name)).length > 0, 120_000);
    console.log(`watch_recovery_outage_seconds ${((back - t0) / 1000).toFixed(1)}`);
    console.log(`watch_recovery_back_to_ip_seconds ${((Date.now() - back) / 1000).toFixed(2)}`);
  }
} finally {
  await ctl?.kill('SIGTERM');
  await proxy.close();
  await cluster.stop();
}
