// Informer error paths against a scripted fake API server on loopback (plain HTTP): 410 Gone
// as a watch event, expired continue tokens, HTTP errors and dropped connections, bookmarks.
// The happy paths and a real restart/compaction are covered in test/cluster/.
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { KubeConfig, type V1ConfigMap } from '@kubernetes/client-node';
import { Informer } from '../../../kube/informer.js';
import { decodeObject } from '../../../kube/decode.js';
import { kubeRequest } from '../../../kube/request.js';
import { MAX_PAGE_ITEMS, MIN_PAGE_ITEMS, nextPageSize } from '../../../kube/list-pages.js';

type Handler = (req: IncomingMessage, res: ServerResponse, q: URLSearchParams) => void;

const PATH = '/api/v1/namespaces/ns/configmaps';

function cm(name: string, rv: string): V1ConfigMap {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'ns', resourceVersion: rv } };
}

function list(items: V1ConfigMap[], rv: string, cont?: string): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: rv, continue: cont }, items }));
  };
}

function status(code: number, reason: string): Handler {
  return (_req, res) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message: reason }));
  };
}

/** A watch stream sending `events`, then ending it (or keeping it open). */
function watch(events: { type: string; object: unknown }[], keepOpen = false): Handler {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    for (const e of events) res.write(`${JSON.stringify(e)}\n`);
    if (!keepOpen) res.end();
  };
}

class FakeApi {
  readonly requests: string[] = [];
  lists: Handler[] = [];
  watches: Handler[] = [];
  private readonly open = new Set<ServerResponse>();
  server!: Server;
  port = 0;

  async start(port = 0): Promise<void> {
    this.server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      const q = url.searchParams;
      const isWatch = q.get('watch') === 'true';
      this.requests.push(`${isWatch ? 'WATCH' : 'LIST'} ${[...q.entries()].filter(([k]) => k !== 'watch' && k !== 'allowWatchBookmarks' && k !== 'timeoutSeconds').map(([k, v]) => `${k}=${v}`).join('&')}`);
      const h = (isWatch ? this.watches : this.lists).shift();
      this.open.add(res);
      res.on('close', () => this.open.delete(res));
      if (h) h(req, res, q);
      else watch([], true)(req, res, q); // nothing scripted: an idle open watch (or list)
    });
    await new Promise<void>((r) => this.server.listen(port, '127.0.0.1', () => r()));
    const a = this.server.address();
    this.port = typeof a === 'object' && a ? a.port : 0;
  }

  kubeConfig(): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: `http://127.0.0.1:${this.port}`, skipTLSVerify: true }],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'c', cluster: 'fake', user: 'u' }],
      currentContext: 'c',
    });
    return kc;
  }

  async stop(): Promise<void> {
    for (const r of this.open) r.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('Informer (fake API server)', () => {
  let api: FakeApi;
  let inf: Informer<V1ConfigMap> | undefined;

  afterEach(async () => {
    await inf?.stop();
    await api.stop();
  });

  async function setup(pageSize = 500): Promise<string[]> {
    await api.start();
    inf = new Informer<V1ConfigMap>({
      kubeConfig: api.kubeConfig(),
      path: PATH,
      decode: decodeObject<V1ConfigMap>,
      backoff: { initialMs: 5, maxMs: 20 },
      pageSize,
    });
    const log: string[] = [];
    inf
      .on('add', (o) => log.push(`add ${o.metadata?.name}@${o.metadata?.resourceVersion}`))
      .on('update', (o, old) => log.push(`update ${o.metadata?.name}@${old?.metadata?.resourceVersion}->${o.metadata?.resourceVersion}`))
      .on('delete', (o) => log.push(`delete ${o.metadata?.name}`));
    return log;
  }

  it('re-lists after a 410 watch event and reports what changed meanwhile', async () => {
    api = new FakeApi();
    api.lists = [list([cm('a', '5'), cm('b', '6')], '10'), list([cm('a', '11'), cm('c', '15')], '20')];
    api.watches = [
      watch([
        { type: 'MODIFIED', object: cm('a', '11') },
        { type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } },
      ]),
    ];
    const log = await setup();
    await inf!.start();
    await until('second watch', () => api.requests.length >= 4);
    expect(log).toEqual(['add a@5', 'add b@6', 'update a@5->11', 'add c@15', 'delete b']);
    expect(api.requests).toEqual(['LIST limit=500', 'WATCH resourceVersion=10', 'LIST limit=500', 'WATCH resourceVersion=20']);
    expect(inf!.stats).toMatchObject({ lists: 2, gone: 1 });
    expect(inf!.keys().sort()).toEqual(['ns/a', 'ns/c']);
  });

  it('reconnects with backoff after HTTP errors and dropped connections, from the same resourceVersion', async () => {
    api = new FakeApi();
    api.lists = [status(500, 'InternalError'), list([cm('a', '5')], '10')];
    api.watches = [
      status(500, 'InternalError'),
      (_req, res) => res.destroy(),
      watch([{ type: 'ADDED', object: cm('x', '12') }], true),
    ];
    const log = await setup();
    const errors: string[] = [];
    inf!.on('error', (e) => errors.push(e.message));
    await inf!.start(); // resolves once the second list succeeds
    await until('x', () => inf!.get('ns/x') !== undefined);
    expect(log).toEqual(['add a@5', 'add x@12']);
    expect(api.requests).toEqual(['LIST limit=500', 'LIST limit=500', 'WATCH resourceVersion=10', 'WATCH resourceVersion=10', 'WATCH resourceVersion=10']);
    expect(errors.length).toBeGreaterThanOrEqual(2);
    expect(inf!.stats.lists).toBe(1);
    expect(inf!.resourceVersion).toBe('12');
  });

  it('follows continue tokens, and starts over unpaginated when one expires', async () => {
    api = new FakeApi();
    api.lists = [list([cm('a', '1'), cm('b', '2')], '10', 'tok1'), status(410, 'Expired'), list([cm('a', '1'), cm('b', '2'), cm('c', '3')], '11')];
    const log = await setup(2);
    await inf!.start();
    // Two small objects in the first page: the next one asks for as many as fit PAGE_BYTES (the cap).
    expect(api.requests.slice(0, 3)).toEqual(['LIST limit=2', `LIST limit=${MAX_PAGE_ITEMS}&continue=tok1`, 'LIST ']);
    expect(log).toEqual(['add a@1', 'add b@2', 'add c@3']);
    expect(inf!.resourceVersion).toBe('11');
  });

  it('sizes each later page by the bytes of the one before (etcd counts every key left at each page: few pages, each of bounded size), never with a resourceVersion (a consistent read)', async () => {
    api = new FakeApi();
    const small = [cm('a', '1'), cm('b', '2')];
    const big = [3, 4, 5].map((i) => ({ ...cm(`big-${i}`, String(i)), data: { v: 'x'.repeat(4000) } }));
    const body = (items: V1ConfigMap[], cont?: string): number => Buffer.byteLength(JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '10', continue: cont }, items }));
    api.lists = [list(small, '10', 'tok1'), list(big, '10', 'tok2'), list([cm('c', '6')], '10')];
    await api.start();
    const pageBytes = 20 * body(small, 'tok1');
    inf = new Informer<V1ConfigMap>({ kubeConfig: api.kubeConfig(), path: PATH, decode: decodeObject<V1ConfigMap>, pageSize: 2, pageBytes });
    await inf.start();
    const second = nextPageSize(2, body(small, 'tok1'), 500, pageBytes);
    const third = nextPageSize(3, body(big, 'tok2'), second, pageBytes);
    expect([second, third]).toEqual([40, MIN_PAGE_ITEMS]);
    expect(api.requests.slice(0, 3)).toEqual(['LIST limit=2', `LIST limit=${second}&continue=tok1`, `LIST limit=${third}&continue=tok2`]);
    expect(inf.keys().sort()).toEqual(['ns/a', 'ns/b', 'ns/big-3', 'ns/big-4', 'ns/big-5', 'ns/c']);
    expect(inf.stats.lists).toBe(1);
  });

  it("fixes a list's snapshot at its first page; a list started over is a new one (listSnapshot, syncedFromList: the controller orders its own list after it)", async () => {
    api = new FakeApi();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    api.lists = [list([cm('a', '1')], '10', 'tok1'), (req, res, q) => void held.then(() => status(410, 'Expired')(req, res, q)), list([cm('a', '1'), cm('b', '2')], '11')];
    await setup(1);
    const snapshot = inf!.listSnapshot();
    const started = inf!.start();
    expect(await snapshot).toBe(1); // the first page answered, the second still held
    expect(inf!.hasSynced()).toBe(false);
    expect(inf!.syncedFromList).toBeUndefined();
    release();
    await started;
    expect(inf!.syncedFromList).toBe(2);
    expect(await inf!.listSnapshot()).toBe(2);
  });

  it('relist(): ends the open watch, lists again and resolves once that list is applied; one asked during a list waits for the next (the speaker\'s view newer than its reconnection)', async () => {
    api = new FakeApi();
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    api.lists = [list([cm('a', '1')], '10'), (req, res, q) => void held.then(() => list([cm('a', '1'), cm('b', '2')], '11')(req, res, q)), list([cm('b', '2'), cm('c', '3')], '12')];
    const log = await setup();
    await inf!.start();
    await until('the watch', () => api.requests.length === 2);
    const first = inf!.relist();
    await until('the second list', () => api.requests.length === 3);
    let firstDone = false;
    void first.then(() => (firstDone = true));
    // Asked while that list is in flight: its snapshot may be older than the call, so it waits for the next.
    let secondDone = false;
    const second = inf!.relist().then(() => (secondDone = true));
    release();
    await first;
    expect(inf!.get('ns/b')).toBeDefined();
    expect(firstDone).toBe(true);
    await second;
    expect(secondDone).toBe(true);
    expect(log).toEqual(['add a@1', 'add b@2', 'add c@3', 'delete a']);
    await until('the watch again', () => api.requests.length === 5);
    expect(api.requests).toEqual(['LIST limit=500', 'WATCH resourceVersion=10', 'LIST limit=500', 'LIST limit=500', 'WATCH resourceVersion=12']);
    expect(inf!.stats.errors).toBe(0);
  });

  it('relist() during a failing list: retried with the back-off, resolved by the first list that succeeds', async () => {
    api = new FakeApi();
    api.lists = [list([], '10'), status(500, 'InternalError'), status(500, 'InternalError'), list([cm('a', '5')], '20')];
    const log = await setup();
    await inf!.start();
    await until('the watch', () => api.requests.length === 2);
    await inf!.relist();
    expect(log).toEqual(['add a@5']);
    expect(inf!.stats.errors).toBe(2);
    expect(api.requests.filter((r) => r.startsWith('LIST'))).toHaveLength(4);
  });

  it('moves its resourceVersion with bookmarks', async () => {
    api = new FakeApi();
    api.lists = [list([], '10')];
    api.watches = [watch([{ type: 'BOOKMARK', object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: '30' } } }])];
    await setup();
    await inf!.start();
    await until('re-watch', () => api.requests.length >= 3);
    expect(api.requests.slice(1, 3)).toEqual(['WATCH resourceVersion=10', 'WATCH resourceVersion=30']);
    expect(inf!.stats.bookmarks).toBe(1);
    expect(inf!.size).toBe(0);
  });

  it('unreachable, it retries as soon as another request succeeds, not after its back-off (issue 16.3: blind up to 30 s after an outage)', async () => {
    api = new FakeApi();
    await api.start();
    const port = api.port;
    const kc = api.kubeConfig();
    await api.stop(); // the server is down: connections refused
    inf = new Informer<V1ConfigMap>({ kubeConfig: kc, path: PATH, decode: decodeObject<V1ConfigMap>, backoff: { initialMs: 600_000, maxMs: 600_000 } });
    const errors: string[] = [];
    inf.on('error', (e) => errors.push(e.message));
    const synced = inf.start();
    await until('the refused list', () => errors.length === 1);
    expect(inf.lastEventAgeSeconds()).toBeUndefined();
    api = new FakeApi();
    api.lists = [list([], '1'), list([cm('a', '5')], '10')]; // ours first, then the informer's
    await api.start(port); // back, on the same address
    await new Promise((r) => setTimeout(r, 50));
    expect(inf.hasSynced()).toBe(false); // still waiting out its 10-minute back-off
    await kubeRequest(kc, 'GET', `${PATH}?limit=1`); // another request (e.g. a Lease renewal) gets through
    await synced;
    expect(inf.get('ns/a')).toBeDefined();
    expect(inf.lastEventAgeSeconds()).toBeLessThan(5);
    expect(inf.stats.resumedEarly).toBe(1); // herald_watch_resumed_early_total
  });

  it('an HTTP error (the server answered) waits out the back-off', async () => {
    api = new FakeApi();
    api.lists = [status(500, 'InternalError'), list([], '1'), list([cm('a', '5')], '10')];
    await api.start();
    const kc = api.kubeConfig();
    inf = new Informer<V1ConfigMap>({ kubeConfig: kc, path: PATH, decode: decodeObject<V1ConfigMap>, backoff: { initialMs: 600_000, maxMs: 600_000 } });
    const errors: string[] = [];
    inf.on('error', (e) => errors.push(e.message));
    void inf.start();
    await until('the 500', () => errors.length === 1);
    await kubeRequest(kc, 'GET', `${PATH}?limit=1`);
    await new Promise((r) => setTimeout(r, 100));
    expect(inf.hasSynced()).toBe(false);
    expect(api.requests.filter((r) => r.startsWith('LIST'))).toHaveLength(2); // its own and ours
    expect(inf.stats.resumedEarly).toBe(0);
  });
});
