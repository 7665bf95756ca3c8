// Raw JSON requests to the API server with a KubeAccess's credentials: every read and write of
// Herald's daemons (lists, watches, status, Leases, Events) goes through here, as plain JSON.
import { Agent, request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import type { KubeAccess } from './access.js';

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
    /** Transport failures: the errno name (ENETUNREACH, ECONNREFUSED, ECONNRESET, ...) or ETIMEDOUT for our own timeout. */
    readonly code?: string,
    /** The server's Retry-After, in ms (429 Too Many Requests). */
    readonly retryAfterMs?: number,
  ) {
    super(`${method} ${path}: ${status ? `${status} ` : ''}${message}`);
  }
}

/** What openRequest needs of a client request (node's ClientRequest fits; tests inject failing fakes). */
export interface OutgoingRequest {
  on(event: 'timeout', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
  write(chunk: Buffer): unknown;
  end(): unknown;
  destroy(err?: Error): unknown;
  /** Its connection (bytes read from it so far): a timeout that fired after data arrived is not one. */
  readonly socket?: { readonly bytesRead: number } | null;
}

/** Sends one request (http or https by the URL); default: node's http(s).request. */
export type KubeTransport = (url: URL, options: RequestOptions, onResponse: (res: IncomingMessage) => void) => OutgoingRequest;

const nodeTransport: KubeTransport = (url, options, onResponse) => (url.protocol === 'https:' ? httpsRequest : httpRequest)(url, options, onResponse);

/** The errno name of a socket error, if any. */
export function errnoOf(e: unknown): string | undefined {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
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

/** The server's Retry-After (ms) carried by a 429 error of ours, if any. */
export function retryAfterOf(err: unknown): number | undefined {
  return err instanceof KubeApiError && err.status === 429 ? err.retryAfterMs ?? 1_000 : undefined;
}

export interface RequestOpts {
  body?: unknown;
  contentType?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  /** Told the size of a 2xx answer's body in bytes (a list sizes its next page by it). */
  onBodyBytes?: (bytes: number) => void;
}

// client-node's applyToHTTPSOptions() builds a fresh Agent per call, i.e. a TLS handshake per request; keep one
// keep-alive Agent per KubeAccess and TLS material instead (headers, e.g. rotated tokens, are still
// taken per request).
const agents = new WeakMap<KubeAccess, { key: string; agent: Agent }>();

// Who wants to know that the server of a KubeAccess answers again: an informer waiting out a long
// reconnect back-off after connection errors retries at once when another request succeeds (the
// Lease renewal every 1-2 s), instead of staying blind for up to its 30 s ceiling after an outage.
const reachableListeners = new WeakMap<KubeAccess, Set<() => void>>();

/** Calls `fn` on every 2xx answer from the server of `kc` (any request); returns the unsubscribe. */
export function onApiSuccess(kc: KubeAccess, fn: () => void): () => void {
  let set = reachableListeners.get(kc);
  if (!set) reachableListeners.set(kc, (set = new Set()));
  set.add(fn);
  return () => set.delete(fn);
}

function notifySuccess(kc: KubeAccess): void {
  const set = reachableListeners.get(kc);
  if (set) for (const fn of [...set]) fn();
}

/** A 429 answer that openRequest waits out and retries (the daemons count and log them). */
export interface Throttled {
  method: string;
  path: string;
  /** The wait before the retry (the server's Retry-After). */
  delayMs: number;
  /** 1 for the first retry of this request. */
  attempt: number;
}

const throttleListeners = new WeakMap<KubeAccess, Set<(t: Throttled) => void>>();

/** Calls `fn` for every 429 that a request to the server of `kc` waits out; returns the unsubscribe. */
export function onApiThrottled(kc: KubeAccess, fn: (t: Throttled) => void): () => void {
  let set = throttleListeners.get(kc);
  if (!set) throttleListeners.set(kc, (set = new Set()));
  set.add(fn);
  return () => set.delete(fn);
}

/** client-go's rule: a 429 is retried after its Retry-After (1 s without one), up to 10 times (reads only here). */
export const MAX_THROTTLE_RETRIES = 10;
const MAX_RETRY_AFTER_MS = 60_000;

/** Retry-After in ms: delay-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = Array.isArray(value) ? value[0] : value;
  if (v === undefined || v.trim() === '') return undefined;
  if (/^\d+$/.test(v.trim())) return Math.min(MAX_RETRY_AFTER_MS, Number(v.trim()) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.min(MAX_RETRY_AFTER_MS, Math.max(0, at - now));
}

function waitMs(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(t);
      reject(signal?.reason);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

function keepAliveAgent(kc: KubeAccess, o: RequestOptions): Agent {
  const key = JSON.stringify([o.ca, o.cert, o.key, o.rejectUnauthorized, o.servername].map((v) => (Buffer.isBuffer(v) ? v.toString('base64') : v)));
  const cached = agents.get(kc);
  if (cached?.key === key) return cached.agent;
  cached?.agent.destroy();
  const agent = new Agent({ keepAlive: true, ca: o.ca, cert: o.cert, key: o.key, rejectUnauthorized: o.rejectUnauthorized, servername: o.servername });
  agents.set(kc, { key, agent });
  return agent;
}

/**
 * Sends one request and resolves with the response once its headers say 2xx (the body still to be
 * read: watches stream it). Non-2xx answers reject with KubeApiError carrying the metav1.Status
 * reason. `timeoutMs` bounds socket inactivity (default 60 s).
 */
export async function openRequest(kc: KubeAccess, method: string, path: string, opts: RequestOpts = {}): Promise<IncomingMessage> {
  // 429 Too Many Requests (API Priority and Fairness, max-inflight limits): the server asks us to
  // come back after Retry-After. Only reads are sent again here: a write's body was computed for a
  // moment that may be gone after the wait (the controller's leadership term may have ended, and a
  // new leader restored without it: a duplicate address), so a throttled write goes back to its
  // caller with retryAfterMs, to recompute.
  for (let attempt = 1; ; attempt++) {
    try {
      return await openOnce(kc, method, path, opts);
    } catch (err) {
      if (method !== 'GET' || !(err instanceof KubeApiError) || err.status !== 429 || attempt > MAX_THROTTLE_RETRIES) throw err;
      const delayMs = err.retryAfterMs ?? 1_000;
      const set = throttleListeners.get(kc);
      if (set) for (const fn of [...set]) fn({ method, path, delayMs, attempt });
      await waitMs(delayMs, opts.signal);
    }
  }
}

async function openOnce(kc: KubeAccess, method: string, path: string, opts: RequestOpts): Promise<IncomingMessage> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new KubeApiError(0, method, path, undefined, 'no current cluster');
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
  const send = kc.transport ?? nodeTransport;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  return new Promise((resolve, reject) => {
    let response: IncomingMessage | undefined;
    let req: OutgoingRequest;
    try {
      req = send(url, { ...reqOpts, timeout: timeoutMs, signal: opts.signal }, onResponse);
    } catch (e) {
      // A synchronous throw (e.g. an invalid header) is a failed request like any other.
      reject(new KubeApiError(0, method, path, undefined, (e as Error).message, errnoOf(e)));
      return;
    }
    function onResponse(res: IncomingMessage): void {
      response = res;
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        resolve(res);
        notifySuccess(kc);
        return;
      }
      readBody(res).then(
        (text) => {
          let st: { reason?: string; message?: string } = {};
          try {
            st = (text ? JSON.parse(text) : {}) as typeof st;
          } catch {
            // not a metav1.Status: the text itself is the message
          }
          const retryAfter = status === 429 ? parseRetryAfter(res.headers['retry-after']) : undefined;
          reject(new KubeApiError(status, method, path, st.reason, st.message ?? (text.slice(0, 200) || res.statusMessage || 'error'), undefined, retryAfter));
        },
        (e: Error) => reject(new KubeApiError(status, method, path, undefined, e.message, errnoOf(e))),
      );
    }
    req.on('timeout', () => {
      // Decided after the poll phase: a timer due while the event loop was blocked fires before the
      // data that arrived meanwhile is read (libuv runs timers first), and such a "timeout" threw
      // away answers that were in the socket (a Lease renewal, then re-read and written again: two
      // more round trips on a slow server). Data read in between re-arms the socket's timeout.
      const bytes = req.socket?.bytesRead;
      const answered = response;
      setImmediate(() => {
        if (response !== answered || (bytes !== undefined && req.socket?.bytesRead !== bytes)) return;
        // Also fail a response being read (a watch), with this reason rather than a bare 'aborted'.
        const err = Object.assign(new Error(`timed out after ${timeoutMs} ms without data`), { code: 'ETIMEDOUT' });
        response?.destroy(err);
        req.destroy(err);
      });
    });
    // The errno name goes into the message too: "connect ENETUNREACH 10.96.0.1:443" says it already, a reset often does not.
    req.on('error', (e) => {
      const code = errnoOf(e);
      reject(new KubeApiError(0, method, path, undefined, code && !e.message.includes(code) ? `${e.message} (${code})` : e.message, code));
    });
    if (payload) req.write(payload);
    req.end();
  });
}

function readBody(res: IncomingMessage, onBytes?: (bytes: number) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (c: Buffer) => chunks.push(c));
    res.on('error', reject);
    res.on('end', () => {
      const body = Buffer.concat(chunks);
      onBytes?.(body.length);
      resolve(body.toString('utf8'));
    });
  });
}

/** One request with a JSON answer (undefined for an empty body). */
export async function kubeRequest(kc: KubeAccess, method: string, path: string, opts: RequestOpts = {}): Promise<unknown> {
  const res = await openRequest(kc, method, path, opts);
  let text: string;
  try {
    text = await readBody(res, opts.onBodyBytes);
  } catch (err) {
    throw new KubeApiError(0, method, path, undefined, (err as Error).message, errnoOf(err));
  }
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new KubeApiError(res.statusCode ?? 0, method, path, undefined, 'response is not JSON');
  }
}
