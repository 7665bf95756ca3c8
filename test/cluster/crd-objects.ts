// The metallb.io CRDs in the test cluster, and MetalLB-style objects for the cluster tests.
import { join } from 'node:path';
import { expect } from 'vitest';
import { kubectl, waitFor } from './harness.js';

export const CRDS = join(import.meta.dirname, '..', '..', 'charts', 'herald', 'crds', 'metallb.io.yaml');
export const KINDS = 'ipaddresspools.metallb.io,l2advertisements.metallb.io,bgpadvertisements.metallb.io,bgppeers.metallb.io,communities.metallb.io,bfdprofiles.metallb.io';
/** The status kinds the daemons write (ConfigurationState, ServiceL2Status, ServiceBGPStatus). */
export const STATUS_KINDS = 'configurationstates.metallb.io,servicel2statuses.metallb.io,servicebgpstatuses.metallb.io';

/** Applies the CRDs (cluster-scoped, the same for every run: idempotent across test files) and waits until all are Established. */
export async function installCrds(): Promise<void> {
  expect(kubectl(['apply', '-f', CRDS])).toMatch(/customresourcedefinition.apiextensions.k8s.io\/ipaddresspools.metallb.io (created|configured|unchanged)/);
  for (const name of [...KINDS.split(','), ...STATUS_KINDS.split(',')]) {
    await waitFor(`CRD ${name} Established`, () => /True/.test(kubectl(['get', 'crd', name, '-o', 'jsonpath={.status.conditions[?(@.type=="Established")].status}'])), 60_000);
  }
}

