// The set-up of the tests that cut one speaker off the shared test cluster: a fresh namespace (the
// metallb.io CRDs installed), a CuttableProxy to the API server and, in a temporary folder, a
// kubeconfig that reaches the server through it (the other speakers keep the direct one).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { installCrds } from './crd-objects.js';
import { freshNamespace, kubeConfig, kubeconfigPath } from './harness.js';
import { CuttableProxy } from './proxy.js';

export interface ProxiedNamespace {
  kc: KubeConfig;
  ns: string;
  proxy: CuttableProxy;
  /** The temporary folder (removed by close()). */
  dir: string;
  /** The kubeconfig through the proxy, in `dir`. */
  kubeconfig: string;
  close(): Promise<void>;
}

export async function proxiedNamespace(prefix: string): Promise<ProxiedNamespace> {
  await installCrds();
  const kc = kubeConfig();
  const ns = await freshNamespace(prefix);
  const server = new URL(kc.getCurrentCluster()!.server);
  const proxy = await CuttableProxy.start(server.hostname, Number(server.port));
  const dir = mkdtempSync(join(tmpdir(), `herald-${prefix}-`));
  const kubeconfig = join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, readFileSync(kubeconfigPath(), 'utf8').split(server.origin).join(`https://127.0.0.1:${proxy.port}`));
  return {
    kc,
    ns,
    proxy,
    dir,
    kubeconfig,
    async close() {
      await proxy.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
