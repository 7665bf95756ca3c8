// Issue 11: a hostNetwork speaker got ENETUNREACH connecting to the API server at start and
// crashed. Here `herald speaker` and `herald controller` start with a kubeconfig whose server is a
// closed loopback port (connection refused: the same failure path as an unreachable network),
// log their retries, stay alive with /healthz answering, and work as soon as the port relays to
// the real API server.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { freePort } from './cluster.js';
import { ControllerProcess } from './controller-process.js';
import { freshNamespace, kubeConfig, kubeconfigPath, kubectl, waitFor } from './harness.js';
import { CuttableProxy } from './proxy.js';
import { setEndpoints, SpeakerProcess, speakerConfigYaml } from './speaker-process.js';

describe('API server unreachable at start (issue 11)', () => {
  let kc: KubeConfig;
  let ns: string;
  let dir: string;
  let proxy: CuttableProxy | undefined;
  const procs: (ControllerProcess | SpeakerProcess)[] = [];

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await freshNamespace('unreach');
    dir = mkdtempSync(join(tmpdir(), 'herald-unreach-'));
  });

  afterAll(async () => {
    await Promise.all(procs.map((p) => p.kill()));
    await proxy?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('speaker and controller retry with logs, stay alive, and work once the API server is reachable', async () => {
    kubectl(['apply', '-f', '-'], { input: speakerConfigYaml(ns, { l2: { protocol: 'layer2', addresses: ['192.0.2.16/29'] } }) });
    const server = new URL(kc.getCurrentCluster()?.server ?? '');
    const port = await freePort();
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, readFileSync(kubeconfigPath(), 'utf8').replace(/server: .*/, `server: https://127.0.0.1:${port}`));
    const controller = new ControllerProcess({ kubeconfig, namespace: ns });
    const node = `${ns}-node`;
    const speaker = new SpeakerProcess({ kubeconfig, node, namespace: ns });
    procs.push(controller, speaker);

    // Nothing listens on the port: every request is refused.
    const retried = (l: { event?: string }): boolean => l.event === 'apiRetry';
    await controller.waitForLog('two start-up retries', () => controller.lines.filter(retried).length >= 2, 60_000);
    await speaker.waitForLog('two start-up retries', () => speaker.logs.filter(retried).length >= 2, 60_000);
    await speaker.waitForLog('a failed Lease renewal', (l) => l.event === 'leaseRenewFailed', 60_000);
    const first = controller.lines.find(retried);
    expect(JSON.stringify(first)).toContain('ECONNREFUSED');
    // Alive, and /healthz answers during the outage (a liveness probe would not restart them).
    for (const p of [controller, speaker]) {
      expect(p.running).toBe(true);
      const res = await fetch(`${await p.metricsUrl()}/healthz`);
      expect(res.status).toBe(200);
    }
    const metrics = await (await fetch(`${await controller.metricsUrl()}/metrics`)).text();
    expect(metrics).toMatch(/^herald_k8s_api_errors_total\{operation="discovery"\} [1-9]/m);

    // The API server becomes reachable at that address.
    proxy = await CuttableProxy.start(server.hostname, Number(server.port), port);
    await controller.waitForLog('leadership', (l) => l.event === 'leading', 90_000);
    await speaker.waitForLog('informers synced', (l) => l.event === 'informersSynced', 90_000);

    // And they work: the controller assigns an address, the speaker announces it.
    await kc.makeApiClient(CoreV1Api).createNamespacedService({
      namespace: ns,
      body: { metadata: { name: 'web' }, spec: { type: 'LoadBalancer', selector: { app: 'web' }, ports: [{ port: 80, protocol: 'TCP' }] } },
    });
    await setEndpoints(kc, ns, 'web', [{ node, ready: true }]);
    const ip = await waitFor('an address for web', async () => (await kc.makeApiClient(CoreV1Api).readNamespacedService({ namespace: ns, name: 'web' })).status?.loadBalancer?.ingress?.[0]?.ip, 60_000);
    expect(ip).toMatch(/^192\.0\.2\.(1[6-9]|2[0-3])$/);
    await speaker.waitFor(`an announcement of ${ip}`, (r) => 'announcer' in r && r.op === 'setBalancer' && JSON.stringify(r.ips ?? []).includes(String(ip)), 60_000);
    expect(controller.running && speaker.running).toBe(true);
  });
});
