// What kube/ needs of a client configuration: the API server URL and, per request, the TLS
// options and headers (credentials). Our lean loader (kubeconfig.ts) implements it; client-node's
// KubeConfig satisfies it structurally, so tests and the exec/auth-provider fallback can pass one.
import type { RequestOptions } from 'node:https';
import type { KubeTransport } from './request.js';

export interface KubeCluster {
  readonly name?: string;
  /** e.g. https://192.0.2.1:6443 (no trailing slash). */
  readonly server: string;
  /** Only client-node's KubeConfig serves proxies (it then sets the agent in applyToHTTPSOptions). */
  readonly proxyUrl?: string;
}

export interface KubeAccess {
  getCurrentCluster(): KubeCluster | null;
  /** Sets ca/cert/key/rejectUnauthorized/servername and auth headers on `opts` (called per request: tokens rotate). */
  applyToHTTPSOptions(opts: RequestOptions): Promise<void>;
  /** How requests are sent (default node's http(s).request); tests inject network failures here. */
  transport?: KubeTransport;
}
