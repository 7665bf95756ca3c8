// Runs `node dist/cli/herald.js speaker --announcer record` as a real process for cluster tests and
// benchmarks (herald-process.ts): its balancer calls (JSON lines {"announcer","op","name","ips","reason","t"}) and its
// logs are collected, so tests observe decisions through the protocol interface without sockets.
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { discoverEndpointsApi, type EndpointsApi } from '../../kube/endpoints.js';
import { kubeRequest } from '../../kube/request.js';
import { HeraldProcess, type LogLine } from './herald-process.js';

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

export class SpeakerProcess extends HeraldProcess {
  readonly records: RecordLine[] = [];
  readonly logs: LogLine[] = [];
  readonly node: string;

  constructor(opts: SpeakerProcessOptions) {
    super(
      `speaker ${opts.node}`,
      [
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
      ],
      { nodeArgs: opts.nodeArgs, env: opts.env },
    );
    this.node = opts.node;
  }

  protected accept(line: Record<string, unknown>): void {
    if (typeof line.announcer === 'string') this.records.push(line as unknown as RecordLine);
    else this.logs.push(line as LogLine);
  }

  protected recentLines(): readonly unknown[] {
    return this.logs.slice(-8);
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
  waitFor<T extends RecordLine | LogLine>(what: string, pred: (l: T) => boolean, timeoutMs = 30_000, logs = false): Promise<T> {
    return this.waitIn(() => (logs ? this.logs : this.records) as T[], what, pred, timeoutMs);
  }

  waitForLog(what: string, pred: (l: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    return this.waitFor<LogLine>(what, pred, timeoutMs, true);
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
