// Issue 16.3/16.4: an API server that throttles (429 Too Many Requests with Retry-After) during
// Service churn. The controller, a real process, reaches the real API server through a relay in
// this test that answers every third request (watches excepted) with 429 and Retry-After: 1, as
// API Priority and Fairness does when its queues are full. Every Service ends with an address, no
// address twice, the controller never exits, and the waits are counted and logged.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { writeFileSync } from 'node:fs';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { configMapYaml, ControllerProcess, createServices, metricValue, statusesIn } from './controller-process.js';
import { freshNamespace, kubeConfig, kubeconfigPath, kubectl, waitFor } from './harness.js';

/** A plain-HTTP relay to the API server that throttles: 429 + Retry-After for every `every`-th non-watch request while `on`. */
class ThrottlingRelay {
  on = true;
  sent429 = 0;
  private n = 0;
  private constructor(private readonly server: Server) {}

  static async start(target: URL, every: number): Promise<ThrottlingRelay> {
    const relay: ThrottlingRelay = new ThrottlingRelay(
      createServer((req, res) => {
        const watch = (req.url ?? '').includes('watch=true');
        if (relay.on && !watch && ++relay.n % every === 0) {
          relay.sent429++;
          res.writeHead(429, { 'content-type': 'application/json', 'retry-after': '1' });
          res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code: 429, reason: 'TooManyRequests', message: 'Too many requests, please try again later.' }));
          return;
        }
        const up = httpsRequest({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, host: target.host }, rejectUnauthorized: false }, (ur) => {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
        });
        up.on('error', () => res.destroy());
        res.on('close', () => up.destroy());
        req.pipe(up);
      }),
    );
    await new Promise<void>((r) => relay.server.listen(0, '127.0.0.1', () => r()));
    return relay;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a ? a.port : 0;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

describe('herald controller against a throttling API server (429 + Retry-After)', () => {
  let kc: KubeConfig;
  let ns: string;
  let relay: ThrottlingRelay;
  let ctl: ControllerProcess | undefined;

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await freshNamespace('throttled');
    kubectl(['apply', '-f', '-'], { input: configMapYaml(ns, { default: ['192.0.2.0/26'] }) });
    const server = kc.getCurrentCluster()?.server;
    const token = kc.getCurrentUser()?.token;
    if (!server || !token) throw new Error('the test cluster kubeconfig has no server or token');
    relay = await ThrottlingRelay.start(new URL(server), 3);
    const path = `${kubeconfigPath()}.throttled-${ns}`;
    writeFileSync(
      path,
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Config',
        clusters: [{ name: 'relay', cluster: { server: `http://127.0.0.1:${relay.port}`, 'insecure-skip-tls-verify': true } }],
        users: [{ name: 'admin', user: { token } }],
        contexts: [{ name: 'relay', context: { cluster: 'relay', user: 'admin' } }],
        'current-context': 'relay',
      }),
    );
    ctl = new ControllerProcess({ kubeconfig: path, namespace: ns });
    await ctl.leading(120_000);
  }, 300_000);

  afterAll(async () => {
    await ctl?.kill('SIGTERM');
    await relay?.close();
    kubectl(['delete', 'svc', '--all', '-n', ns, '--wait=false']);
  });

  it('every Service ends with an address, none twice; the 429s are waited out, counted and logged', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    await createServices(kc, ns, 'churn', 30, () => ({}), 8);
    for (let i = 0; i < 30; i += 3) await core.deleteNamespacedService({ namespace: ns, name: `churn-${i}` });
    await createServices(kc, ns, 'late', 10, () => ({}), 8);
    let last = new Map<string, string[]>();
    await waitFor(
      'every Service to hold an address',
      async () => {
        last = await statusesIn(kc, ns);
        return last.size === 30 && [...last.values()].every((ips) => ips.length === 1);
      },
      180_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; statuses ${JSON.stringify([...last])}`);
    });
    const ips = [...last.values()].flat();
    const twice = ips.filter((ip, i) => ips.indexOf(ip) !== i);
    if (twice.length > 0) {
      console.log(`duplicates ${JSON.stringify([...last].filter(([, v]) => twice.includes(v[0])))}`);
      for (const l of ctl!.lines.filter((x) => twice.some((ip) => JSON.stringify(x).includes(ip)))) console.log(JSON.stringify(l).slice(0, 400));
    }
    expect(twice).toEqual([]);
    expect(ctl?.running).toBe(true);
    expect(relay.sent429).toBeGreaterThan(5);
    const counted = await metricValue(await ctl!.metricsUrl(), 'herald_k8s_api_throttled_total');
    expect(counted).toBeGreaterThan(0);
    expect(ctl!.lines.some((l) => l.event === 'apiThrottled')).toBe(true);
    console.log(`429s sent ${relay.sent429}; herald_k8s_api_throttled_total ${counted}; apiThrottled lines ${ctl!.lines.filter((l) => l.event === 'apiThrottled').length}`);
  }, 300_000);
});
