// The Helm chart without helm (none can be installed here): values.yaml against values.schema.json,
// every .Values path the templates use exists, and the templates, rendered by a small Go-template
// evaluator (go-template.ts), describe exactly the objects `herald manifests` prints, for the
// default values and for variations of every value.
import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { defaultValues, installManifests, type HeraldValues, type KubeObject } from '../../../kube/manifests.js';
import { Chart, RenderError, truthy, valuesPaths } from './go-template.js';
import { SchemaError, validate } from './json-schema.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '../../..');
const chartDir = join(root, 'charts/herald');
const read = (p: string): string => readFileSync(join(chartDir, p), 'utf8');
const templates: Record<string, string> = Object.fromEntries(readdirSync(join(chartDir, 'templates')).map((f) => [f, read(`templates/${f}`)]));
const valuesYaml = yaml.load(read('values.yaml')) as Record<string, unknown>;
const schema = JSON.parse(read('values.schema.json')) as Record<string, unknown>;
const chartYaml = yaml.load(read('Chart.yaml')) as { name: string; version: string; appVersion: string };
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
const chart = new Chart(templates);

type DeepPartial<T> = { [K in keyof T]?: T[K] extends unknown[] ? T[K] : T[K] extends object ? DeepPartial<T[K]> : T[K] };

/** Helm's merge of user values over the defaults: maps merge, everything else replaces. */
function merge<T>(base: T, over: DeepPartial<T>): T {
  if (typeof base !== 'object' || base === null || Array.isArray(base)) return over as T;
  const out: Record<string, unknown> = { ...(base as Record<string, unknown>) };
  for (const [k, v] of Object.entries(over as Record<string, unknown>)) {
    const b = out[k];
    out[k] = typeof v === 'object' && v !== null && !Array.isArray(v) && typeof b === 'object' && b !== null && !Array.isArray(b) ? merge(b, v as DeepPartial<unknown>) : v;
  }
  return out as T;
}

function renderChart(values: HeraldValues, release = { name: 'herald', namespace: 'herald-system' }): KubeObject[] {
  const ctx = {
    Values: values,
    Release: { Name: release.name, Namespace: release.namespace, Service: 'Helm' },
    Chart: { Name: chartYaml.name, Version: chartYaml.version, AppVersion: chartYaml.appVersion },
  };
  const files = chart.renderAll(ctx);
  return Object.keys(files)
    .sort()
    .flatMap((f) => yaml.loadAll(files[f]).filter((d) => d !== null && d !== undefined) as KubeObject[]);
}

/** Helm-only labels removed, ConfigMap configs parsed (toYaml and js-yaml format lists differently). */
function normalize(objects: KubeObject[]): KubeObject[] {
  const strip = (o: unknown): unknown => {
    if (Array.isArray(o)) return o.map(strip);
    if (typeof o !== 'object' || o === null) return o;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(o)) {
      if (k === 'helm.sh/chart' || k === 'app.kubernetes.io/managed-by') continue;
      out[k] = strip(v);
    }
    return out;
  };
  return objects
    .map((o) => {
      const s = strip(o) as KubeObject;
      if (s.kind === 'ConfigMap') s.data = { config: yaml.load((s.data as { config: string }).config) };
      return s;
    })
    .sort((a, b) => `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`));
}

const release = { name: 'herald', namespace: 'herald-system', version: pkg.version };

const variations: [string, DeepPartial<HeraldValues>][] = [
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
  ['load balancer class, log level, replicas, leader election off', { loadBalancerClass: 'herald.io/lb', logLevel: 'debug', controller: { replicas: 1, leaderElect: false } }],
  ['image, pull secrets', { image: { repository: 'registry.example/herald', tag: 'dev', pullPolicy: 'Always' }, imagePullSecrets: [{ name: 'regcred' }] }],
  ['fullname override', { fullnameOverride: 'lb' }],
  [
    'resources, node selectors, tolerations, ports',
    {
      controller: { resources: { requests: { cpu: '50m', memory: '64Mi' } }, nodeSelector: { role: 'infra' }, tolerations: [{ key: 'infra', operator: 'Exists' }], metricsPort: 9472 },
      speaker: { resources: { limits: { memory: '128Mi' } }, nodeSelector: {}, tolerations: [], metricsPort: 9473 },
    },
  ],
  ['speaker interfaces, excluded interfaces, graceful restart', { speaker: { interfaces: ['eth0', 'bond0.100'], excludeInterfaces: ['^lo$', '^veth[0-9a-f]+$'], gracefulRestart: 120 } }],
  ['monitoring', { podMonitor: { enabled: true, interval: '15s' }, prometheusRule: { enabled: true, poolUsageThreshold: 0.75 } }],
];

describe('chart values', () => {
  it('values.yaml is valid against values.schema.json', () => {
    expect(validate(schema, valuesYaml)).toEqual([]);
  });

  it('values.yaml holds exactly the defaults herald manifests uses', () => {
    expect(valuesYaml).toEqual(defaultValues());
  });

  it('Chart.yaml appVersion is the package version (the default image tag)', () => {
    expect(chartYaml.appVersion).toBe(pkg.version);
    expect(chartYaml.name).toBe('herald');
  });

  it('the schema refuses bad values, naming the path', () => {
    const cases: [DeepPartial<HeraldValues> | Record<string, unknown>, string][] = [
      [{ logLevel: 'loud' as HeraldValues['logLevel'] }, '/logLevel'],
      [{ controller: { replicas: -1 } }, '/controller/replicas'],
      [{ controller: { replicas: 1.5 } }, '/controller/replicas'],
      [{ speaker: { metricsPort: 70000 } }, '/speaker/metricsPort'],
      [{ speaker: { bgpPassive: 'yes' as unknown as boolean } }, '/speaker/bgpPassive'],
      [{ image: { pullPolicy: 'Sometimes' as HeraldValues['image']['pullPolicy'] } }, '/image/pullPolicy'],
      [{ image: { repository: '' } }, '/image/repository'],
      [{ configInline: { 'address-pool': [] } }, '/configInline/address-pool'],
      [{ existingConfigMap: 'Bad_Name' }, '/existingConfigMap'],
      [{ fullnameOverride: '-x' }, '/fullnameOverride'],
      [{ prometheusRule: { poolUsageThreshold: 2 } }, '/prometheusRule/poolUsageThreshold'],
      [{ podMonitor: { interval: '30' } }, '/podMonitor/interval'],
      [{ speaker: { tolerations: [{ effect: 'Never' } as never] } }, '/speaker/tolerations/0/effect'],
      [{ controller: { nodeSelector: { a: 1 as unknown as string } } }, '/controller/nodeSelector/a'],
      [{ speaker: { interfaces: 'eth0' as never } }, '/speaker/interfaces'],
      [{ speaker: { gracefulRestart: 5000 } }, '/speaker/gracefulRestart'],
      [{ speaker: { announce: true } as never }, '/speaker/announce'],
      [{ extra: true }, '/extra'],
    ];
    for (const [over, path] of cases) {
      const v = merge(valuesYaml, over as Record<string, unknown>);
      expect(validate(schema, v).map((x) => x.path), JSON.stringify(over)).toContain(path);
    }
    const missing = { ...valuesYaml };
    delete missing.speaker;
    expect(validate(schema, missing)).toEqual([{ path: '/speaker', message: 'is required' }]);
  });

  it('the schema checker refuses keywords it does not implement', () => {
    expect(() => validate({ type: 'object', oneOf: [] }, {})).toThrow(SchemaError);
  });

  it('every .Values path a template uses exists in values.yaml, and every value is used', () => {
    const used = valuesPaths(templates);
    expect(used.size).toBeGreaterThan(10);
    for (const path of used) {
      let cur: unknown = valuesYaml;
      for (const key of path.split('.')) {
        expect(cur !== null && typeof cur === 'object' && key in (cur as object), `.Values.${path} is not in values.yaml`).toBe(true);
        cur = (cur as Record<string, unknown>)[key];
      }
    }
    // A leaf counts as used when it or one of its parents (e.g. a whole map passed to toYaml) is.
    const leaves = (v: unknown, prefix: string): string[] =>
      v !== null && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0
        ? Object.entries(v).flatMap(([k, c]) => leaves(c, prefix ? `${prefix}.${k}` : k))
        : [prefix];
    for (const leaf of leaves(valuesYaml, '')) {
      const parts = leaf.split('.');
      const usedSomehow = parts.some((_, i) => used.has(parts.slice(0, i + 1).join('.')));
      expect(usedSomehow, `values.yaml ${leaf} is used by no template`).toBe(true);
    }
  });
});

describe('chart templates and herald manifests', () => {
  for (const [name, over] of variations) {
    it(`describe the same objects: ${name}`, () => {
      const values = merge(defaultValues(), over);
      expect(validate(schema, values)).toEqual([]);
      const rendered = normalize(renderChart(values));
      const plain = normalize(installManifests(values, release));
      expect(rendered.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual(plain.map((o) => `${o.kind}/${o.metadata.name}`));
      expect(rendered).toEqual(plain);
    });
  }

  it('the default install has the expected objects', () => {
    const kinds = normalize(installManifests(defaultValues(), release)).map((o) => `${o.kind}/${o.metadata.name}`);
    expect(kinds).toEqual([
      'ClusterRole/herald-controller',
      'ClusterRole/herald-speaker',
      'ClusterRoleBinding/herald-controller',
      'ClusterRoleBinding/herald-speaker',
      'ConfigMap/herald-config',
      'DaemonSet/herald-speaker',
      'Deployment/herald-controller',
      'Role/herald-controller',
      'Role/herald-speaker',
      'RoleBinding/herald-controller',
      'RoleBinding/herald-speaker',
      'Service/herald-controller-metrics',
      'Service/herald-speaker-metrics',
      'ServiceAccount/herald-controller',
      'ServiceAccount/herald-speaker',
    ]);
  });

  it('render into the release namespace, with Helm labels', () => {
    const objs = renderChart(defaultValues(), { name: 'edge', namespace: 'lb' });
    for (const o of objs) {
      if (o.kind.startsWith('Cluster')) expect(o.metadata.namespace).toBeUndefined();
      else expect(o.metadata.namespace, `${o.kind}/${o.metadata.name}`).toBe('lb');
      expect(o.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');
      expect(o.metadata.labels?.['helm.sh/chart']).toBe(`herald-${chartYaml.version}`);
      expect(o.metadata.name.startsWith('edge-')).toBe(true);
    }
    const crb = objs.find((o) => o.kind === 'ClusterRoleBinding') as KubeObject & { subjects: { namespace: string }[] };
    expect(crb.subjects[0].namespace).toBe('lb');
  });

  it('required: an empty image repository fails the render with its message', () => {
    expect(() => renderChart(merge(defaultValues(), { image: { repository: '' } }))).toThrow(/image.repository is required/);
  });

  it('NOTES.txt renders for each configuration case and says what to do next', () => {
    const ctx = (v: HeraldValues): Record<string, unknown> => ({
      Values: v,
      Release: { Name: 'herald', Namespace: 'herald-system', Service: 'Helm' },
      Chart: { Name: chartYaml.name, Version: chartYaml.version, AppVersion: chartYaml.appVersion },
    });
    const empty = chart.render('NOTES.txt', ctx(defaultValues()));
    expect(empty).toMatch(/No address pool is configured yet/);
    expect(empty).toMatch(/kubectl -n herald-system get pods -l app.kubernetes.io\/instance=herald/);
    const inline = chart.render('NOTES.txt', ctx(merge(defaultValues(), variations[3][1])));
    expect(inline).toMatch(/ConfigMap herald-system\/herald-config \(from configInline\)/);
    const existing = chart.render('NOTES.txt', ctx(merge(defaultValues(), { existingConfigMap: 'mine', speaker: { bgpPassive: true } })));
    expect(existing).toMatch(/existing ConfigMap\nherald-system\/mine/);
    expect(existing).toMatch(/NET_RAW \+ NET_BIND_SERVICE/);
    expect(existing).not.toMatch(/<no value>|\{\{/);
  });
});

describe('the template evaluator', () => {
  it('follows Go template trimming, truthiness, with/else and include scoping', () => {
    const c = new Chart({
      '_h.tpl': '{{- define "x" -}}[{{ . }}]{{- end -}}',
      'a.yaml': 'a:\n  {{- if .A }} yes{{ else }} no{{ end }}\nb: {{ include "x" .B }}\n{{- with .C }}\nc: {{ . }}{{ else }}\nc: none{{ end }}\n{{ $v := "q" }}{{ $v | quote }} {{ `{{ raw }}` }}',
    });
    expect(c.render('a.yaml', { A: [], B: 'bee', C: '' })).toBe('a: no\nb: [bee]\nc: none\n"q" {{ raw }}');
    expect(c.render('a.yaml', { A: { k: 1 }, B: 2, C: 'see' })).toBe('a: yes\nb: [2]\nc: see\n"q" {{ raw }}');
    expect(truthy(0)).toBe(false);
    expect(truthy({})).toBe(false);
    expect(truthy('0')).toBe(true);
  });

  it('refuses what it does not implement instead of guessing', () => {
    expect(() => new Chart({ 'r.yaml': '{{ range $i, $v := .X }}{{ end }}' })).toThrow(RenderError);
    expect(() => new Chart({ 'r.yaml': '{{ range .X }}{{ end }}' }).render('r.yaml', { X: { a: 1 } })).toThrow(/range over a map/);
    expect(new Chart({ 'r.yaml': '{{- range .X }}\n- {{ . }}{{ else }}none{{ end }}' }).render('r.yaml', { X: ['a', 'b'] })).toBe('\n- a\n- b');
    expect(new Chart({ 'r.yaml': '{{- range .X }}\n- {{ . }}{{ else }}none{{ end }}' }).render('r.yaml', { X: [] })).toBe('none');
    expect(() => new Chart({ 'f.yaml': '{{ upper .X }}' }).render('f.yaml', { X: 'a' })).toThrow(/upper is not supported/);
    expect(() => new Chart({ 'm.yaml': '{{ .X }}' }).render('m.yaml', { X: { a: 1 } })).toThrow(/toYaml/);
  });
});
