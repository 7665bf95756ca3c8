// Where the kube client's configuration comes from: --kubeconfig, then KUBECONFIG, then the
// in-cluster service account (token + CA mounted into every Pod). Plain credentials are served by
// our lean loader (kubeconfig.ts); exec plugins, auth providers and proxies by client-node,
// loaded only for them (client-node-access.ts).
import { existsSync, readFileSync } from 'node:fs';
import type { KubeAccess } from './access.js';
import { ClientNodeAccess } from './client-node-access.js';
import { inClusterAccess, KubeconfigError, parseKubeconfig, SERVICE_ACCOUNT_DIR, type LeanAccessOptions } from './kubeconfig.js';

export type KubeConfigSource = 'flag' | 'env' | 'in-cluster';

export class KubeConfigError extends Error {
  override readonly name = 'KubeConfigError';
  constructor(
    message: string,
    readonly source: KubeConfigSource | 'none',
    /** The file (or environment variable) and field at fault, when one is. */
    readonly at?: { file: string; field: string },
  ) {
    super(message);
  }
}

export interface LoadedKubeConfig {
  kubeConfig: KubeAccess;
  source: KubeConfigSource;
  /** Set when client-node serves the kubeconfig (exec, auth-provider, proxy-url): why. */
  fallback?: string;
}

/**
 * Loads the client configuration. `kubeconfig` (the --kubeconfig flag) wins, then the KUBECONFIG
 * environment variable (first file of a colon-separated list), then the in-cluster service
 * account. Throws KubeConfigError naming the source, and the file and field, that failed.
 */
export function loadKubeConfig(
  opts: { kubeconfig?: string; env?: NodeJS.ProcessEnv; inClusterRoot?: string; access?: LeanAccessOptions } = {},
): LoadedKubeConfig {
  const env = opts.env ?? process.env;
  const wrap = (err: unknown, source: KubeConfigSource, what: string): never => {
    if (err instanceof KubeconfigError) throw new KubeConfigError(`${what} (from ${source}): ${err.field}: ${err.detail}`, source, { file: err.file, field: err.field });
    throw err;
  };
  const fromFile = (file: string, source: KubeConfigSource): LoadedKubeConfig => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      const missing = (err as NodeJS.ErrnoException).code === 'ENOENT';
      throw new KubeConfigError(`kubeconfig ${file} (from ${source}) ${missing ? 'does not exist' : `cannot be read: ${(err as Error).message}`}`, source, { file, field: '(document)' });
    }
    try {
      const plan = parseKubeconfig(text, file, opts.access);
      if (plan.kind === 'lean') return { kubeConfig: plan.access, source };
      return { kubeConfig: new ClientNodeAccess(file, plan.cluster, plan.reason), source, fallback: plan.reason };
    } catch (err) {
      return wrap(err, source, `kubeconfig ${file}`);
    }
  };
  if (opts.kubeconfig) return fromFile(opts.kubeconfig, 'flag');
  const envPath = env.KUBECONFIG?.split(':').find((p) => p.length > 0);
  if (envPath) return fromFile(envPath, 'env');
  // inClusterRoot prefixes the mounted service-account paths (tests); host and port come from
  // KUBERNETES_SERVICE_HOST/PORT as the kubelet sets them.
  const root = opts.inClusterRoot ?? '';
  if (env.KUBERNETES_SERVICE_HOST && existsSync(`${root}${SERVICE_ACCOUNT_DIR}/token`)) {
    try {
      return { kubeConfig: inClusterAccess(env, root, opts.access), source: 'in-cluster' };
    } catch (err) {
      return wrap(err, 'in-cluster', 'in-cluster configuration');
    }
  }
  throw new KubeConfigError('no kube configuration: pass --kubeconfig, set KUBECONFIG, or run in a Pod with a service account', 'none');
}
