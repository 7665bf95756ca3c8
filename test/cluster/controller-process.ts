// Runs `node dist/cli/herald.js controller` as a real process for cluster tests and benchmarks
// (herald-process.ts), plus helpers the controller tests share.
import { CoreV1Api, EventsV1Api, type KubeConfig, type V1Service } from '@kubernetes/client-node';
import { HeraldProcess, type LogLine } from './herald-process.js';

export { HERALD_BIN, type LogLine } from './herald-process.js';

export interface ControllerProcessOptions {
  kubeconfig: string;
  namespace: string;
  /** Services watched (default: the same namespace, so parallel test files do not see each other's Services). */
  servicesNamespace?: string;
  leaderElect?: boolean;
  leaseDuration?: string;
  logLevel?: string;
  extraArgs?: string[];
  /** Flags for node itself, e.g. ['--cpu-prof'] (NODE_OPTIONS refuses some). */
  nodeArgs?: string[];
}

export class ControllerProcess extends HeraldProcess {
  readonly lines: LogLine[] = [];

  constructor(readonly opts: ControllerProcessOptions) {
    super(
      'controller',
      [
        'controller',
        '--kubeconfig',
        opts.kubeconfig,
        '--namespace',
        opts.namespace,
        '--services-namespace',
        opts.servicesNamespace ?? opts.namespace,
        '--metrics-address',
        '127.0.0.1:0',
        '--leader-elect',
        String(opts.leaderElect ?? true),
        '--lease-duration',
        opts.leaseDuration ?? '3s',
        '--log-level',
        opts.logLevel ?? 'info',
        ...(opts.extraArgs ?? []),
      ],
      { nodeArgs: opts.nodeArgs },
    );
  }

  protected accept(line: Record<string, unknown>): void {
    this.lines.push(line as LogLine);
  }

  protected recentLines(): readonly unknown[] {
    return this.lines.slice(-10);
  }

  /** Resolves with the first log line matching `pred` (already seen or future); rejects after `timeoutMs` or on exit. */
  waitForLog(what: string, pred: (l: LogLine) => boolean, timeoutMs = 30_000): Promise<LogLine> {
    return this.waitIn(() => this.lines, what, pred, timeoutMs);
  }

  async leading(timeoutMs = 30_000): Promise<LogLine> {
    return this.waitForLog('leadership', (l) => l.event === 'leading', timeoutMs);
  }
}

/** Fetches a text metric value (first series matching `name` and optional label text). */
export async function metricValue(url: string, name: string, labels = ''): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const sp = line.lastIndexOf(' ');
    const series = line.slice(0, sp);
    if (series === name || (series.startsWith(`${name}{`) && series.includes(labels))) return Number(line.slice(sp + 1));
  }
  return undefined;
}

/** ingress IPs of every Service in `namespace`, by name. */
export async function statusesIn(kc: KubeConfig, namespace: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  const list = await kc.makeApiClient(CoreV1Api).listNamespacedService({ namespace });
  for (const s of list.items) out.set(s.metadata?.name ?? '', ingressOf(s));
  return out;
}

export function ingressOf(svc: V1Service): string[] {
  return (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '').filter((ip) => ip !== '');
}

/** A ConfigMap manifest in MetalLB's legacy format with the given pools (name -> address lines). */
export function configMapYaml(namespace: string, pools: Record<string, string[]>, extra: Record<string, Record<string, unknown>> = {}): string {
  const body = Object.entries(pools)
    .map(([name, addrs]) => {
      const more = Object.entries(extra[name] ?? {})
        .map(([k, v]) => `      ${k}: ${JSON.stringify(v)}\n`)
        .join('');
      return `    - name: ${name}\n      protocol: layer2\n${more}      addresses:\n${addrs.map((a) => `      - ${a}\n`).join('')}`;
    })
    .join('');
  return `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\n  namespace: ${namespace}\ndata:\n  config: |\n    address-pools:\n${body}`;
}

/** events.k8s.io/v1 Events in `namespace` about `name` with `reason` (notes, oldest first). */
export async function eventNotes(kc: KubeConfig, namespace: string, name: string, reason: string): Promise<string[]> {
  const list = await kc.makeApiClient(EventsV1Api).listNamespacedEvent({ namespace });
  return list.items
    .filter((e) => e.regarding?.name === name && e.reason === reason)
    .sort((a, b) => new Date(a.eventTime as unknown as string).getTime() - new Date(b.eventTime as unknown as string).getTime())
    .map((e) => e.note ?? '');
}

/** Creates Services `prefix-0..n-1` (LoadBalancer, port 80) with `concurrency` requests in flight; `spec(i)` adds fields. */
export async function createServices(
  kc: KubeConfig,
  namespace: string,
  prefix: string,
  n: number,
  spec: (i: number) => Record<string, unknown> = () => ({}),
  concurrency = 16,
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      await core.createNamespacedService({
        namespace,
        body: { metadata: { name: `${prefix}-${i}` }, spec: { type: 'LoadBalancer', selector: { app: `${prefix}-${i}` }, ports: [{ port: 80, protocol: 'TCP' }], ...spec(i) } },
      });
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}
