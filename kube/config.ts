// Where the kube client's configuration comes from: --kubeconfig, then KUBECONFIG, then the
// in-cluster service account (token + CA mounted into every Pod).
import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';

export type KubeConfigSource = 'flag' | 'env' | 'in-cluster';

export class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError';
  constructor(
    message: string,
    readonly source: KubeConfigSource | 'none',
  ) {
    super(message);
  }
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface LoadedKubeConfig {
  kubeConfig: KubeConfig;
  source: KubeConfigSource;
}

/**
 * Loads the client configuration. `kubeconfig` (the --kubeconfig flag) wins, then the KUBECONFIG
 * environment variable (first file of a colon-separated list, as kubectl reads it), then the
 * in-cluster service account. Throws KubeConfigError naming the source that failed.
 */
export function loadKubeConfig(
  opts: { kubeconfig?: string; env?: NodeJS.ProcessEnv; inClusterRoot?: string } = {},
): LoadedKubeConfig {
  const env = opts.env ?? process.env;
  const fromFile = (file: string, source: KubeConfigSource): LoadedKubeConfig => {
    if (!existsSync(file)) throw new KubeConfigError(`kubeconfig ${file} (from ${source}) does not exist`, source);
    const kc = new KubeConfig();
    try {
      kc.loadFromFile(file);
    } catch (err) {
      throw new KubeConfigError(`kubeconfig ${file} (from ${source}) is invalid: ${(err as Error).message}`, source);
    }
    if (!kc.getCurrentCluster()) throw new KubeConfigError(`kubeconfig ${file} (from ${source}) has no current cluster`, source);
    return { kubeConfig: kc, source };
  };
  if (opts.kubeconfig) return fromFile(opts.kubeconfig, 'flag');
  const envPath = env.KUBECONFIG?.split(':').find((p) => p.length > 0);
  if (envPath) return fromFile(envPath, 'env');
  // inClusterRoot prefixes the mounted service-account paths (tests); host and port come from
  // KUBERNETES_SERVICE_HOST/PORT as the kubelet sets them.
  const root = opts.inClusterRoot ?? '';
  if (env.KUBERNETES_SERVICE_HOST && existsSync(`${root}${SA_DIR}/token`)) {
    const kc = new KubeConfig();
    kc.loadFromCluster(root);
    return { kubeConfig: kc, source: 'in-cluster' };
  }
  throw new KubeConfigError('no kube configuration: pass --kubeconfig, set KUBECONFIG, or run in a Pod with a service account', 'none');
}
