// The metallb.io CRDs: charts/herald/crds/ holds exactly kube/crds.ts's objects (helm installs them
// before the templates, real helm shows them with --include-crds), with MetalLB's names and versions
// and structural schemas (every property typed, so the API server checks types and prunes the rest).
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { crdObjects } from '../../../kube/crds.js';
import type { KubeObject } from '../../../kube/manifests.js';
import { helm } from '../../tools/helm.js';

const chartDir = join(dirname(fileURLToPath(import.meta.url)), '../../../charts/herald');
const file = join(chartDir, 'crds/metallb.io.yaml');

type Version = { name: string; served: boolean; storage: boolean; schema: { openAPIV3Schema: Record<string, unknown> } };
type Crd = KubeObject & { spec: { group: string; scope: string; names: { kind: string; plural: string }; versions: Version[] } };

/** Paths of schema nodes without a type (a structural schema types every node). */
function untyped(node: Record<string, unknown>, path: string): string[] {
  const out: string[] = [];
  if (typeof node.type !== 'string') out.push(path);
  for (const [k, v] of Object.entries((node.properties ?? {}) as Record<string, Record<string, unknown>>)) out.push(...untyped(v, `${path}.${k}`));
  if (node.items) out.push(...untyped(node.items as Record<string, unknown>, `${path}[]`));
  if (node.additionalProperties && typeof node.additionalProperties === 'object') out.push(...untyped(node.additionalProperties as Record<string, unknown>, `${path}{}`));
  return out;
}

describe('metallb.io CRDs', () => {
  it('the chart file holds exactly kube/crds.ts (regenerate the file from crdObjects() if this fails)', () => {
    expect(yaml.loadAll(readFileSync(file, 'utf8')).filter((d) => d !== null)).toEqual(crdObjects());
  });

  it('MetalLB\'s kinds, plurals and versions; BGPPeer stored as v1beta2, the rest as v1beta1', () => {
    const crds = crdObjects() as Crd[];
    const summary = crds.map((c) => ({
      name: c.metadata.name,
      kind: c.spec.names.kind,
      versions: c.spec.versions.map((v) => `${v.name}${v.storage ? '*' : ''}`),
      scope: c.spec.scope,
    }));
    expect(summary).toEqual([
      { name: 'bfdprofiles.metallb.io', kind: 'BFDProfile', versions: ['v1beta1*'], scope: 'Namespaced' },
      { name: 'bgpadvertisements.metallb.io', kind: 'BGPAdvertisement', versions: ['v1beta1*'], scope: 'Namespaced' },
      { name: 'bgppeers.metallb.io', kind: 'BGPPeer', versions: ['v1beta1', 'v1beta2*'], scope: 'Namespaced' },
      { name: 'communities.metallb.io', kind: 'Community', versions: ['v1beta1*'], scope: 'Namespaced' },
      { name: 'configurationstates.metallb.io', kind: 'ConfigurationState', versions: ['v1beta1*'], scope: 'Namespaced' },
      { name: 'ipaddresspools.metallb.io', kind: 'IPAddressPool', versions: ['v1beta1*'], scope: 'Namespaced' },
      { name: 'l2advertisements.metallb.io', kind: 'L2Advertisement', versions: ['v1beta1*'], scope: 'Namespaced' },
      { name: 'servicebgpstatuses.metallb.io', kind: 'ServiceBGPStatus', versions: ['v1beta1*'], scope: 'Namespaced' },
      { name: 'servicel2statuses.metallb.io', kind: 'ServiceL2Status', versions: ['v1beta1*'], scope: 'Namespaced' },
    ]);
    for (const c of crds) {
      expect(c.spec.group).toBe('metallb.io');
      for (const v of c.spec.versions) expect(untyped(v.schema.openAPIV3Schema, c.spec.names.kind)).toEqual([]);
    }
  });

  it('real helm installs them from crds/ (helm template --include-crds)', async () => {
    const r = await helm(['template', 'herald', chartDir, '-n', 'herald-system', '--include-crds']);
    expect(r.code).toBe(0);
    const docs = (yaml.loadAll(r.stdout) as KubeObject[]).filter((d) => d?.kind === 'CustomResourceDefinition');
    expect(docs).toEqual(crdObjects());
  }, 120_000);
});
