// vitest globalSetup of the `cluster` project: one real cluster per test run; tests get its
// kubeconfig through inject('kubeconfig') (see harness.ts) and isolate themselves by namespace.
// Set HERALD_TEST_KUBECONFIG to run against an already running cluster (e.g. from make cluster-up).
import type { TestProject } from 'vitest/node';
import { TestCluster } from './cluster.js';

declare module 'vitest' {
  export interface ProvidedContext {
    kubeconfig: string;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const existing = process.env.HERALD_TEST_KUBECONFIG;
  if (existing) {
    project.provide('kubeconfig', existing);
    return async () => undefined;
  }
  // Failing here fails the whole project loudly with the reason (build error, log tail).
  const cluster = await TestCluster.start();
  project.provide('kubeconfig', cluster.kubeconfig);
  return async () => {
    await cluster.stop();
  };
}
