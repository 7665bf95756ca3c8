// Raw JSON requests with a KubeConfig's credentials, for what the generated client does not
// cover: paginated raw lists for informers and API groups it no longer ships (discovery.k8s.io/v1beta1).
import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';

/** A non-2xx answer from the API server (or a transport failure, status 0). */
export class KubeApiError extends Error {
  override readonly name = 'KubeApiError';
  constructor(
    readonly status: number,
    readonly method: string,
    readonly path: string,
    /** metav1.Status reason, e.g. 'Conflict', 'Expired', 'NotFound'. */
    readonly reason: string | undefined,
    message: string,
  ) {
    super(`${method} ${path}: ${status ? `${status} ` : ''}${message}`);
  }
}

/** HTTP status of an error from our requests or from the generated client (ApiException.code). */
export function errorStatus(err: unknown): number | undefined {
  if (err instanceof KubeApiError) return err.status;
  if (typeof err === 'object' && err !== null) {
    const e = err as { code?: unknown; statusCode?: unknown };
    if (typeof e.code === 'number') return e.code;
    if (typeof e.statusCode === 'number') return e.statusCode;
  }
  return undefined;
}

export interface RequestOpts {
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
}

// applyToHTTPSOptions() builds a fresh Agent per call, i.e. a TLS handshake per request; keep one
// keep-alive Agent per KubeConfig and TLS material instead (headers, e.g. rotated tokens, are still
// taken per request).
const agents = new WeakMap<KubeConfig, { key: string; agent: Agent }>();

function keepAliveAgent(kc: KubeConfig, o: RequestOptions): Agent {
  const key = JSON.stringify([o.ca, o.cert, o.key, o.rejectUnauthorized, o.servername].map((v) => (Buffer.isBuffer(v) ? v.toString('base64') : v)));
  const cached = agents.get(kc);
  if (cached?.key === key) return cached.agent;
  cached?.agent.destroy();
  const agent = new Agent({ keepAlive: true, ca: o.ca, cert: o.cert, key: o.key, rejectUnauthorized: o.rejectUnauthorized, servername: o.servername });
  agents.set(kc, { key, agent });
  return agent;
}

export async function kubeRequest(kc: KubeConfig, method: string, path: string, opts: RequestOpts = {}): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeApiError(0, method, path, undefined, 'KubeConfig has no current cluster');
  const url = new URL(cluster.server + path);
  const reqOpts: RequestOptions = { method, headers: { accept: 'application/json' } };
  await kc.applyToHTTPSOptions(reqOpts);
  const payload = opts.body === undefined ? undefined : Buffer.from(JSON.stringify(opts.body));
  if (payload) reqOpts.headers = { ...reqOpts.headers, 'content-type': opts.contentType ?? 'application/json' };
  const https = url.protocol === 'https:';
  if (!cluster.proxyUrl) {
    // With a proxy, keep client-node's proxy agent.
    if (https) reqOpts.agent = keepAliveAgent(kc, reqOpts);
    else delete reqOpts.agent;
  }
  const send = https ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const req = send(url, { ...reqOpts, timeout: opts.timeoutMs ?? 60_000, signal: opts.signal }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e) => reject(new KubeApiError(0, method, path, undefined, e.message)));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        const status = res.statusCode ?? 0;
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        if (status >= 200 && status < 300) {
          if (json === undefined && text) reject(new KubeApiError(status, method, path, undefined, 'response is not JSON'));
          else resolve(json);
          return;
        }
        const st = (json ?? {}) as { reason?: string; message?: string };
        reject(new KubeApiError(status, method, path, st.reason, st.message ?? (text.slice(0, 200) || res.statusMessage || 'error')));
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timed out after ${opts.timeoutMs ?? 60_000} ms`)));
    req.on('error', (e) => reject(new KubeApiError(0, method, path, undefined, e.message)));
    if (payload) req.write(payload);
    req.end();
  });
}
