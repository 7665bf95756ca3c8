// 429 Too Many Requests: every request waits out the server's Retry-After and is sent again (up to
// 10 times, as client-go), each wait reported to onApiThrottled listeners (the daemons count and log).
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';
import { kubeRequest, KubeApiError, MAX_THROTTLE_RETRIES, onApiThrottled, parseRetryAfter, type Throttled } from '../../../kube/request.js';

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

/** A server answering 429 (Retry-After `retryAfter`) to the first `throttled` requests, then 200. */
async function start(throttled: number, retryAfter: string | undefined): Promise<{ kc: KubeConfig; bodies: string[] }> {
  let n = 0;
  const bodies: string[] = [];
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      bodies.push(body);
      if (n++ < throttled) {
        res.writeHead(429, { 'content-type': 'application/json', ...(retryAfter === undefined ? {} : { 'retry-after': retryAfter }) });
        res.end(JSON.stringify({ kind: 'Status', code: 429, reason: 'TooManyRequests', message: 'too many requests, please try again later' }));
      } else {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('{"ok":true}');
      }
    });
  });
  await new Promise<void>((r) => server?.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }], users: [{ name: 'u', token: 't' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
  return { kc, bodies };
}

describe('429 Too Many Requests', () => {
  it('a read waits out Retry-After and is sent again', async () => {
    const { kc, bodies } = await start(2, '0');
    const seen: Throttled[] = [];
    const off = onApiThrottled(kc, (t) => seen.push(t));
    expect(await kubeRequest(kc, 'GET', '/api/v1/services')).toEqual({ ok: true });
    off();
    expect(seen.map((t) => [t.method, t.attempt, t.delayMs])).toEqual([
      ['GET', 1, 0],
      ['GET', 2, 0],
    ]);
    expect(bodies).toHaveLength(3);
  });

  it('a write goes back to its caller with retryAfterMs, to be recomputed (its body may be stale after the wait)', async () => {
    const { kc, bodies } = await start(1, '2');
    const err = await kubeRequest(kc, 'PUT', '/api/v1/namespaces/ns/services/a/status', { body: { x: 1 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).retryAfterMs).toBe(2_000);
    expect(bodies).toHaveLength(1);
  });

  it('honours the delay the server gives', async () => {
    const { kc } = await start(1, '1');
    const t0 = Date.now();
    await kubeRequest(kc, 'GET', '/api/v1/services');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
  });

  it(`gives up after ${MAX_THROTTLE_RETRIES} retries with the 429`, async () => {
    const { kc } = await start(100, '0');
    const err = await kubeRequest(kc, 'GET', '/api/v1/services').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).status).toBe(429);
    expect((err as KubeApiError).retryAfterMs).toBe(0);
  });

  it('reads Retry-After as seconds or an HTTP date, bounded at 60 s', () => {
    expect(parseRetryAfter('3')).toBe(3000);
    expect(parseRetryAfter(undefined)).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter('99999')).toBe(60_000);
    expect(parseRetryAfter(new Date(10_000).toUTCString(), 8_000)).toBe(2_000);
  });
});
