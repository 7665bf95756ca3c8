// The metallb.io CRDs on a real kube-apiserver (1.20): accepted (structural schemas), Established, and
// every kind served at MetalLB's versions. Creating a custom resource is not tested here: the locally
// built 1.20 apiserver (Go 1.19, vendored reflect2 < 1.0.2) dies with SIGSEGV decoding any CR
// (json-iterator map iteration), so CR apply/validation tests wait for a fixed build.
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { freshNamespace, kubectl, waitFor } from './harness.js';

const CRDS = join(import.meta.dirname, '..', '..', 'charts', 'herald', 'crds', 'metallb.io.yaml');
const KINDS = 'ipaddresspools.metallb.io,l2advertisements.metallb.io,bgpadvertisements.metallb.io,bgppeers.metallb.io,communities.metallb.io,bfdprofiles.metallb.io';

describe('metallb.io CRDs on kube-apiserver 1.20', () => {
  let ns: string;

  beforeAll(async () => {
    // Cluster-scoped and identical for every run: apply is idempotent across test files.
    expect(kubectl(['apply', '-f', CRDS])).toMatch(/customresourcedefinition.apiextensions.k8s.io\/ipaddresspools.metallb.io (created|configured|unchanged)/);
    for (const name of KINDS.split(',')) {
      await waitFor(`CRD ${name} Established`, () => /True/.test(kubectl(['get', 'crd', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}'])), 60_000);
    }
    ns = await freshNamespace('crds');
  }, 120_000);

  it('serves every kind at MetalLB\'s versions (kubectl api-resources)', () => {
    const out = kubectl(['api-resources', '--api-group=metallb.io', '-o', 'name']).trim().split('\n').sort();
    expect(out).toEqual(KINDS.split(',').sort());
    const versions = kubectl(['api-versions']).split('\n').filter((v) => v.startsWith('metallb.io/')).sort();
    expect(versions).toEqual(['metallb.io/v1beta1', 'metallb.io/v1beta2']);
    expect(kubectl(['get', '-n', ns, KINDS])).toBe('');
  });
});
