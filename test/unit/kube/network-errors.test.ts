// Network errors on the way to the API server (issue 11: a hostNetwork speaker got ENETUNREACH to
// the `kubernetes` Service IP at start and crashed). A fake transport makes the first requests
// fail with the kernel's errors, as node's http reports them; after that, requests reach a small
// local API server. Every caller must retry with backoff and report the failure, never throw it
// out of a daemon.
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { EventEmitter } from 'node:events';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KubeAccess } from '../../../kube/access.js';
import { ServiceEndpointsInformer } from '../../../kube/endpoints.js';
import { EventRecorder } from '../../../kube/events.js';
import { Informer } from '../../../kube/informer.js';
import { KubeApiError, kubeRequest, type KubeTransport, type OutgoingRequest } from '../../../kube/request.js';
import { retrying } from '../../../kube/retry.js';
import { decodeObject } from '../../../kube/decode.js';
import { systemClock } from '../../../protocols/clock.js';
import { SpeakerLease } from '../../../speaker/speaker-lease.js';

const CODES = ['ENETUNREACH', 'EHOSTUNREACH', 'ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT'] as const;
const FAST = { backoff: { initialMs: 1, maxMs: 5 } };

/** A request that fails like node's does when connect() or the connection fails. */
class FailingRequest extends EventEmitter implements OutgoingRequest {
  constructor(private readonly code: string) {
    super();
  }
  write(): boolean {
    return true;
  }
  end(): this {
    const message = this.code === 'ECONNRESET' ? 'socket hang up' : `connect ${this.code} 10.96.0.1:443`;
    setImmediate(() => this.emit('error', Object.assign(new Error(message), { code: this.code })));
    return this;
  }
  destroy(): this {
    return this;
  }
}

/** Fails the first requests with `codes` (one each, in order), then sends for real. */
function failing(codes: readonly string[]): { transport: KubeTransport; calls: () => number } {
  let n = 0;
  const transport: KubeTransport = (url, options, onResponse) => {
    const code = codes[n++];
    if (code) return new FailingRequest(code);
    return httpRequest(url, options, onResponse);
  };
  return { transport, calls: () => n };
}

/** A small API server: discovery, one Service list + an idle watch, Leases, Events. */
let server: Server;
let base: string;
const leases = new Map<string, Record<string, unknown>>();
const events: Record<string, unknown>[] = [];
let rv = 10;

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  let text = '';
  for await (const c of req) text += String(c);
  return JSON.parse(text) as Record<string, unknown>;
}

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const p = url.pathname;
    void (async () => {
      if (p === '/apis/events.k8s.io/v1') return json(res, 200, { resources: [{ name: 'events' }] });
      if (p === '/apis/discovery.k8s.io/v1') return json(res, 200, { resources: [{ name: 'endpointslices' }] });
      if (p === '/api/v1/services' && url.searchParams.get('watch') === 'true') {
        res.writeHead(200, { 'content-type': 'application/json' }); // an idle watch
        return;
      }
      if (p === '/api/v1/services') return json(res, 200, { metadata: { resourceVersion: '5' }, items: [{ metadata: { name: 'web', namespace: 'ns', resourceVersion: '5' } }] });
      if (p === '/hang') return; // never answers
      if (p === '/apis/events.k8s.io/v1/namespaces/ns/events' && req.method === 'POST') {
        const b = await body(req);
        events.push(b);
        return json(res, 201, b);
      }
      const lease = /^\/apis\/coordination\.k8s\.io\/v1\/namespaces\/ns\/leases(?:\/(.+))?$/.exec(p);
      if (lease) {
        const name = lease[1];
        if (req.method === 'GET') return name && leases.has(name) ? json(res, 200, leases.get(name)) : json(res, 404, { reason: 'NotFound', message: 'not found' });
        if (req.method === 'DELETE') return json(res, 200, { kind: 'Status', status: 'Success' });
        const b = await body(req);
        const md = b.metadata as Record<string, unknown>;
        const stored = { ...b, metadata: { ...md, resourceVersion: String(++rv) } };
        leases.set(String(md.name), stored);
        return json(res, req.method === 'POST' ? 201 : 200, stored);
      }
      json(res, 404, { reason: 'NotFound', message: `no ${p}` });
    })();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
});

function access(transport?: KubeTransport): KubeAccess {
  return { getCurrentCluster: () => ({ server: base }), applyToHTTPSOptions: () => Promise.resolve(), transport };
}

describe('kube/request.ts: transport errors', () => {
  it.each(CODES)('%s rejects with a KubeApiError of status 0 that carries the code', async (code) => {
    const err = (await kubeRequest(access(failing([code]).transport), 'GET', '/apis/events.k8s.io/v1').catch((e: unknown) => e)) as KubeApiError;
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err.status).toBe(0);
    expect(err.code).toBe(code);
    expect(err.message).toContain(code);
  });

  it('a server that never answers times out with ETIMEDOUT', async () => {
    const err = (await kubeRequest(access(), 'GET', '/hang', { timeoutMs: 100 }).catch((e: unknown) => e)) as KubeApiError;
    expect(err).toMatchObject({ status: 0, code: 'ETIMEDOUT' });
    expect(err.message).toContain('timed out after 100 ms');
  });

  it('a timeout that fires before the answer already received is read (a blocked event loop: timers run before the poll phase) is no timeout', async () => {
    // The request's socket timeout fires; the answer is read in the same turn's poll phase, before the decision.
    class LateRead extends EventEmitter implements OutgoingRequest {
      socket = { bytesRead: 0 };
      destroyed = false;
      constructor(private readonly onResponse: (res: IncomingMessage) => void) {
        super();
      }
      write(): boolean {
        return true;
      }
      end(): this {
        setTimeout(() => {
          this.emit('timeout');
          if (this.destroyed) return; // a destroyed connection delivers nothing
          this.socket.bytesRead += 200;
          this.onResponse(Object.assign(Readable.from([Buffer.from('{"kind":"Lease"}')]), { statusCode: 200, headers: {} }) as unknown as IncomingMessage);
        }, 5);
        return this;
      }
      destroy(err?: Error): this {
        this.destroyed = true;
        if (err) setImmediate(() => this.emit('error', err)); // as node's request does
        return this;
      }
    }
    let sent: LateRead | undefined;
    const transport: KubeTransport = (_url, _options, onResponse) => (sent = new LateRead(onResponse));
    await expect(kubeRequest(access(transport), 'PUT', '/apis/coordination.k8s.io/v1/namespaces/n/leases/l', { body: {}, timeoutMs: 100 })).resolves.toEqual({ kind: 'Lease' });
    await new Promise((r) => setImmediate(r));
    expect(sent?.destroyed).toBe(false);

    // Nothing read in that poll phase: a timeout.
    class Silent extends LateRead {
      override end(): this {
        setTimeout(() => this.emit('timeout'), 5);
        return this;
      }
    }
    const silent: KubeTransport = (_url, _options, onResponse) => (sent = new Silent(onResponse));
    await expect(kubeRequest(access(silent), 'PUT', '/apis/coordination.k8s.io/v1/namespaces/n/leases/l', { body: {}, timeoutMs: 100 })).rejects.toMatchObject({ status: 0, code: 'ETIMEDOUT' });
    expect(sent?.destroyed).toBe(true);
  });
});

describe('retries: every failure reported, success once the server is reachable', () => {
  it('retrying() goes through all five errors', async () => {
    const f = failing(CODES);
    const seen: string[] = [];
    const got = await retrying(() => kubeRequest(access(f.transport), 'GET', '/apis/discovery.k8s.io/v1'), { ...FAST, onRetry: (err) => seen.push((err as KubeApiError).code ?? '') });
    expect(got).toEqual({ resources: [{ name: 'endpointslices' }] });
    expect(seen).toEqual([...CODES]);
    expect(f.calls()).toBe(6);
  });

  it('retrying() stops when aborted (a daemon stopped while the API server is unreachable)', async () => {
    const ac = new AbortController();
    const p = retrying(() => kubeRequest(access(failing(Array(1000).fill('ENETUNREACH')).transport), 'GET', '/x'), { ...FAST, signal: ac.signal });
    setTimeout(() => ac.abort(new Error('stopped')), 30);
    await expect(p).rejects.toThrow('stopped');
  });

  it('EventRecorder.create: discovery retried through the errors (was: thrown, the daemon exited)', async () => {
    const f = failing(CODES);
    const seen: unknown[] = [];
    const rec = await EventRecorder.create(access(f.transport), { reportingController: 'herald.io/test', reportingInstance: 'n1', retry: { ...FAST, onRetry: (e) => seen.push(e) } });
    expect(rec.api).toBe('events.k8s.io/v1');
    expect(seen).toHaveLength(5);
  });

  it('EventRecorder: an Event whose create fails five ways is retried with backoff and written', async () => {
    // Discovery is forced; the five failures hit the POST of the Event.
    const seen: string[] = [];
    const rec = await EventRecorder.create(access(failing(CODES).transport), {
      api: 'events.k8s.io/v1',
      reportingController: 'herald.io/test',
      reportingInstance: 'n1',
      retryBackoff: { initialMs: 1, maxMs: 5 },
      onError: (e) => seen.push((e as KubeApiError).code ?? ''),
    });
    rec.record({ kind: 'Service', name: 'web', namespace: 'ns', uid: 'u1' }, 'Normal', 'IPAllocated', 'Allocate', 'retried note');
    await expect.poll(() => events.some((e) => e.note === 'retried note'), { timeout: 10_000 }).toBe(true);
    expect(seen).toEqual([...CODES]);
    await rec.close();
  });

  it('EventRecorder: retries give up after maxRetries, and close() does not wait for an outage', async () => {
    const seen: unknown[] = [];
    const rec = await EventRecorder.create(access(failing(Array(100).fill('ENETUNREACH')).transport), {
      api: 'events.k8s.io/v1',
      reportingController: 'herald.io/test',
      reportingInstance: 'n1',
      maxRetries: 2,
      retryBackoff: { initialMs: 1, maxMs: 5 },
      onError: (e) => seen.push(e),
    });
    rec.record({ kind: 'Service', name: 'web', namespace: 'ns' }, 'Normal', 'X', 'Y', 'given up');
    await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(3);
    const slow = await EventRecorder.create(access(failing(Array(100).fill('ENETUNREACH')).transport), {
      api: 'events.k8s.io/v1',
      reportingController: 'herald.io/test',
      reportingInstance: 'n1',
      retryBackoff: { initialMs: 60_000, maxMs: 60_000 },
    });
    slow.record({ kind: 'Service', name: 'web', namespace: 'ns' }, 'Normal', 'X', 'Y', 'closing');
    const t0 = Date.now();
    await new Promise((r) => setTimeout(r, 20));
    await slow.close();
    expect(Date.now() - t0).toBeLessThan(5_000);
    expect(events.some((e) => e.note === 'given up' || e.note === 'closing')).toBe(false);
  });

  it('ServiceEndpointsInformer.create: discovery retried through the errors', async () => {
    const seen: unknown[] = [];
    const inf = await ServiceEndpointsInformer.create(access(failing(CODES).transport), { retry: { ...FAST, onRetry: (e) => seen.push(e) } });
    expect(inf.api).toBe('discovery.k8s.io/v1');
    expect(seen).toHaveLength(5);
  });

  it('Informer: the first list fails five ways, is retried with backoff, and syncs', async () => {
    const errors: string[] = [];
    const inf = new Informer({ kubeConfig: access(failing(CODES).transport), path: '/api/v1/services', decode: decodeObject, backoff: { initialMs: 1, maxMs: 5 } });
    inf.on('error', (e) => errors.push((e as KubeApiError).code ?? e.message));
    await inf.start();
    expect(inf.keys()).toEqual(['ns/web']);
    expect(errors).toEqual([...CODES]);
    expect(inf.stats.errors).toBe(5);
    await inf.stop();
  });

  it('SpeakerLease: create fails five ways (each reported), then the Lease is created and renewed', async () => {
    const failures: unknown[] = [];
    let renewed = 0;
    const lease = new SpeakerLease({
      kubeConfig: access(failing(CODES).transport),
      namespace: 'ns',
      node: 'n1',
      clock: systemClock,
      renewMs: 10,
      leaseDurationMs: 1000,
      onRenewed: () => renewed++,
      onFailed: (e) => failures.push(e),
    });
    lease.start();
    await expect.poll(() => renewed, { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(failures.map((e) => (e as KubeApiError).code)).toEqual([...CODES]);
    expect(leases.get('herald-speaker-n1')).toBeDefined();
    await lease.stop();
  });
});
