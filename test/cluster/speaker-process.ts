// Runs `node dist/cli/herald.js speaker --announcer record` as a real process for cluster tests and
// benchmarks: its balancer calls (JSON lines {"announcer","op","name","ips","reason","t"}) and its
// logs are collected, so tests observe decisions through the protocol interface without sockets.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { discoverEndpointsApi, type EndpointsApi } from '../../kube/endpoints.js';
import { kubeRequest } from '../../kube/request.js';
import { HERALD_BIN, type LogLine } from './controller-process.js';

export interface RecordLine {
  announcer: 'layer2' | 'bgp';
  op: 'setConfig' | 'setBalancer' | 'deleteBalancer';
  node: string;
  name?: string;
  ips?: string[];
  pool?: string;
  reason?: string;
  /** Date.now() when the call was made (same host clock as the test). */
  t: number;
}

export interface SpeakerProcessOptions {
  kubeconfig: string;
  node: string;
  namespace: string;
  servicesNamespace?: string;
  leaseRenew?: string;
  leaseDuration?: string;
  logLevel?: string;
  extraArgs?: string[];
  /** Node flags before the script (e.g. the chart's SPEAKER_NODE_FLAGS) and extra environment. */
  nodeArgs?: readonly string[];
  env?: Record<string, string>;
}

export class SpeakerProcess {
  readonly records: RecordLine[] = [];
  readonly logs: LogLine[] = [];
  readonly child: ChildProcess;
  readonly node: string;
  private stderr = '';
  private readonly exited: Promise<number | string>;
  private waiters: (() => void)[] = [];

  constructor(opts: SpeakerProcessOptions) {
    if (!existsSync(HERALD_BIN)) throw new Error(`${HERALD_BIN} is missing: run make build first`);
    this.node = opts.node;
    const args = [
      ...(opts.nodeArgs ?? []),
      HERALD_BIN,
      'speaker',
      '--announcer',
      'record',
      '--kubeconfig',
      opts.kubeconfig,
      '--node-name',
      opts.node,
      '--namespace',
      opts.namespace,
      '--services-namespace',
      opts.servicesNamespace ?? opts.namespace,
      '--metrics-address',
      '127.0.0.1:0',
      '--lease-renew',
      opts.leaseRenew ?? '1s',
      '--lease-duration',
      opts.leaseDuration ?? '3s',
      '--log-level',
      opts.logLevel ?? 'info',
      ...(opts.extraArgs ?? []),
    ];
    this.child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '', ...opts.env } });
    let buf = '';
    this.child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        let parsed: Record<string, unknown>;
        try {
          parsed = JSON.parse(line) as Record<string, unknown>;
        } catch {
          parsed = { msg: line };
        }
        if (typeof parsed.announcer === 'string') this.records.push(parsed as unknown as RecordLine);
        else this.logs.push(parsed as LogLine);
      }
      for (const w of this.waiters.splice(0)) w();
    });
    this.child.stderr?.setEncoding('utf8').on('data', (c: string) => (this.stderr += c));
    this.exited = new Promise((resolve) => this.child.on('exit', (code, signal) => resolve(code ?? signal ?? 'unknown')));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Balancers this speaker announces now over `announcer` (name -> IPs), replayed from its records. */
  announced(announcer: 'layer2' | 'bgp' = 'layer2'): Map<string, string[]> {
    const out = new Map<string, string[]>();
    for (const r of this.records) {
      if (r.announcer !== announcer || !r.name) continue;
      if (r.op === 'setBalancer') out.set(r.name, r.ips ?? []);
      else if (r.op === 'deleteBalancer') out.delete(r.name);
    }
    return out;
  }

  /** Resolves with the first record (or log line, with `logs`) matching `pred`, already seen or future. */
  async waitFor<T extends RecordLine | LogLine>(what: string, pred: (l: T) => boolean, timeoutMs = 30_000, logs = false): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let seen = 0;
    for (;;) {
      const list = (logs ? this.logs : this.records) as T[];
      for (; seen < list.length; seen++) if (pred(list[seen])) return list[seen];
      if (!this.running) throw new Error(`speaker ${this.node} exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}; stderr: ${this.stderr.slice(-2000)}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`speaker ${this.node}: timed out after ${timeoutMs} ms waiting for ${what}; last lines:\n${this.logs.slice(-8).map((l) => JSON.stringify(l)).join('\n')}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async waitForLog(what: string, pred: (l: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    return this.waitFor<LogLine>(what, pred, timeoutMs, true);
  }

  /** The /metrics base URL from the start-up log. */
  async metricsUrl(): Promise<string> {
    return String((await this.waitForLog('metrics address', (l) => l.event === 'metricsListening')).reason);
  }

  /** Sends `signal` and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | string> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }

  get stderrText(): string {
    return this.stderr;
  }
}

/** Sets status.loadBalancer.ingress of Service `name` to `ips` (what the controller would write). */
export async function setStatusIps(kc: KubeConfig, namespace: string, name: string, ips: string[]): Promise<void> {
  await kubeRequest(kc, 'PATCH', `/api/v1/namespaces/${namespace}/services/${name}/status`, {
    body: { status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } } },
    contentType: 'application/merge-patch+json',
  });
}

/** Creates LoadBalancer Service `name` and gives it `ips` in its status. */
export async function createServiceWithIps(kc: KubeConfig, namespace: string, name: string, ips: string[], policy: 'Cluster' | 'Local' = 'Cluster'): Promise<void> {
  await kc.makeApiClient(CoreV1Api).createNamespacedService({
    namespace,
    body: { metadata: { name }, spec: { type: 'LoadBalancer', selector: { app: name }, externalTrafficPolicy: policy, ports: [{ port: 80, protocol: 'TCP' }] } },
  });
  await setStatusIps(kc, namespace, name, ips);
}

let endpointsApi: Promise<EndpointsApi> | undefined;

/**
 * Writes the endpoints of Service `name` as the endpoint controller would: one EndpointSlice
 * `<name>-herald` (v1 or v1beta1, whichever the server serves) or core Endpoints; `endpoints` are
 * (node, ready) pairs with made-up pod addresses. Creates or replaces.
 */
export async function setEndpoints(kc: KubeConfig, namespace: string, name: string, endpoints: { node: string; ready: boolean }[]): Promise<void> {
  const api = await (endpointsApi ??= discoverEndpointsApi(kc));
  const addr = (i: number): string => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${(i & 255) + 1}`;
  let path: string;
  let body: Record<string, unknown>;
  if (api === 'v1') {
    path = `/api/v1/namespaces/${namespace}/endpoints`;
    const ready = endpoints.map((e, i) => ({ e, i })).filter(({ e }) => e.ready);
    const notReady = endpoints.map((e, i) => ({ e, i })).filter(({ e }) => !e.ready);
    body = {
      apiVersion: 'v1',
      kind: 'Endpoints',
      metadata: { name },
      subsets: endpoints.length
        ? [
            {
              addresses: ready.map(({ e, i }) => ({ ip: addr(i), nodeName: e.node })),
              notReadyAddresses: notReady.map(({ e, i }) => ({ ip: addr(i), nodeName: e.node })),
              ports: [{ port: 80, protocol: 'TCP' }],
            },
          ]
        : [],
    };
  } else {
    path = `/apis/${api}/namespaces/${namespace}/endpointslices`;
    body = {
      apiVersion: api,
      kind: 'EndpointSlice',
      metadata: { name: `${name}-herald`, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: [{ port: 80, protocol: 'TCP', name: '' }],
      endpoints: endpoints.map((e, i) => ({
        addresses: [addr(i)],
        conditions: { ready: e.ready },
        ...(api === 'discovery.k8s.io/v1' ? { nodeName: e.node } : { topology: { 'kubernetes.io/hostname': e.node } }),
      })),
    };
  }
  const objName = (body.metadata as { name: string }).name;
  try {
    const current = (await kubeRequest(kc, 'GET', `${path}/${objName}`)) as { metadata: { resourceVersion: string } };
    (body.metadata as Record<string, unknown>).resourceVersion = current.metadata.resourceVersion;
    await kubeRequest(kc, 'PUT', `${path}/${objName}`, { body });
  } catch (err) {
    if ((err as { status?: number }).status !== 404) throw err;
    await kubeRequest(kc, 'POST', path, { body });
  }
}

/** A ConfigMap `config` with one pool per entry (name -> protocol and addresses). */
export function speakerConfigYaml(namespace: string, pools: Record<string, { protocol: 'layer2' | 'bgp'; addresses: string[] }>, peers = ''): string {
  const body = Object.entries(pools)
    .map(([name, p]) => `    - name: ${name}\n      protocol: ${p.protocol}\n      addresses:\n${p.addresses.map((a) => `      - ${a}\n`).join('')}`)
    .join('');
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\n  namespace: ${namespace}\ndata:\n  config: |\n${peers}    address-pools:\n${body}`;
}
