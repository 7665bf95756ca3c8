// Helpers for tests in the `cluster` vitest project (test/cluster/**/*.test.ts).
//
//   import { kubeConfig, freshNamespace, kubectl } from './harness.js';
//   const kc = kubeConfig();                    // admin KubeConfig of this run's cluster
//   const ns = await freshNamespace('svc');     // isolate each test file/test by namespace
//   kubectl(['apply', '-n', ns, '-f', '-'], { input: yaml });
//
// One cluster serves the whole run (global-setup.ts). Nothing but etcd and kube-apiserver runs:
// no kubelet, scheduler or controller-manager. So tests create Nodes, Endpoints/EndpointSlices
// themselves, namespaces are never finalized after deletion (do not wait for it), and
// ServiceAccounts get no automatic token Secrets (use serviceAccountKubeConfig). Tests that must
// restart kube-apiserver or compact etcd start a private TestCluster (see cluster.ts);
// proxy.ts cuts one client off the server. waitFor() polls for an eventual condition.
// HERALD_TEST_KUBECONFIG=<kubeconfig> runs the project against a running cluster (make cluster-up).
import { inject } from 'vitest';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';

/** Path of the kubeconfig of this run's cluster (admin, system:masters). */
export function kubeconfigPath(): string {
  return inject('kubeconfig');
}

/** An admin KubeConfig for this run's cluster, or for the given kubeconfig file. */
export function kubeConfig(path: string = kubeconfigPath()): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** A random DNS-1123 suffix. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomBytes(4).toString('hex')}`;
}

/** Creates a namespace with a unique name and returns the name. */
export async function freshNamespace(prefix = 'test', kc: KubeConfig = kubeConfig()): Promise<string> {
  const name = uniqueName(prefix);
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

/** Runs kubectl against this run's cluster (or `kubeconfig`); throws with stderr when it fails. */
export function kubectl(args: string[], opts: { input?: string; kubeconfig?: string } = {}): string {
  const r = spawnSync('kubectl', ['--kubeconfig', opts.kubeconfig ?? kubeconfigPath(), ...args], {
    input: opts.input,
    encoding: 'utf8',
  });
  if (r.error) throw new Error(`kubectl ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')} exited ${r.status}: ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * A KubeConfig authenticated as ServiceAccount `name` in `namespace` (created if missing), with a
 * token minted by the TokenRequest API: for testing RBAC rules as the controller or speaker sees them.
 */
export async function serviceAccountKubeConfig(namespace: string, name: string, admin: KubeConfig = kubeConfig()): Promise<KubeConfig> {
  const core = admin.makeApiClient(CoreV1Api);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } }).catch((err: unknown) => {
    if ((err as { code?: number }).code !== 409) throw err;
  });
  const tr = await core.createNamespacedServiceAccountToken({ namespace, name, body: { spec: { audiences: [], expirationSeconds: 3600 } } });
  const token = tr.status?.token;
  if (!token) throw new Error(`TokenRequest for ${namespace}/${name} returned no token`);
  const cluster = admin.getCurrentCluster();
  if (!cluster) throw new Error('admin KubeConfig has no current cluster');
  const kc = new KubeConfig();
  kc.loadFromClusterAndUser(cluster, { name: `system:serviceaccount:${namespace}:${name}`, token });
  return kc;
}

/** Polls `check` until it returns a value other than undefined/false; fails with `what` after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr ? ` (last error: ${String(lastErr)})` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}
