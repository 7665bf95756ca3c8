// A minimal API server for one custom-resource group in memory (GET object and list with a label
// selector and pages, POST, PUT, PUT and merge-PATCH .../status, DELETE, with resourceVersion preconditions and a status
// subresource that create and update ignore): what the status writers' unit tests talk to, counting writes.
import { createServer, type Server } from 'node:http';
import { KubeConfig } from '@kubernetes/client-node';

interface Obj {
  apiVersion?: string;
  kind?: string;
  metadata: { name: string; namespace: string; uid?: string; resourceVersion?: string; labels?: Record<string, string>; ownerReferences?: unknown[] };
  spec?: unknown;
  status?: unknown;
}

export class FakeObjectStore {
  readonly objects = new Map<string, Obj>();
  /** Writes received (method and path), in order. */
  readonly writes: string[] = [];
  /** Answer every request with this status (e.g. 404: the kind is not served; 500: failing). */
  failWith: number | undefined;
  /** With failWith 429: the Retry-After header sent, in seconds. */
  retryAfterS: number | undefined;
  /** Each list request (GET of a collection): its URL, in order. */
  readonly lists: URL[] = [];
  /** When each injected failure was answered (Date.now()). */
  readonly failedAt: number[] = [];
  private rv = 1;
  private server: Server | undefined;

  /** `/apis/g/v/namespaces/ns/plural[/name[/status]]` -> its parts. */
  private static parse(path: string): { key: string; collection: string; name?: string; sub?: string } | undefined {
    const m = /^\/apis\/[^/]+\/[^/]+\/namespaces\/([^/]+)\/([^/?]+)(?:\/([^/?]+))?(?:\/(status))?$/.exec(path);
    if (!m) return undefined;
    const collection = `${m[1]}/${m[2]}`;
    return { collection, name: m[3], sub: m[4], key: `${collection}/${m[3] ?? ''}` };
  }

  put(collection: string, obj: Obj): void {
    obj.metadata.resourceVersion = String(++this.rv);
    this.objects.set(`${collection}/${obj.metadata.name}`, structuredClone(obj));
  }

  list(collection: string): Obj[] {
    return [...this.objects.entries()].filter(([k]) => k.startsWith(`${collection}/`)).map(([, o]) => o);
  }

  async start(): Promise<KubeConfig> {
    this.server = createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        const url = new URL(req.url ?? '/', 'http://x');
        const send = (code: number, body: unknown): void => {
          const retryAfter = code === 429 && this.retryAfterS !== undefined ? { 'retry-after': String(this.retryAfterS) } : {};
          res.writeHead(code, { 'content-type': 'application/json', ...retryAfter });
          res.end(JSON.stringify(body));
        };
        const fail = (code: number, reason: string): void => send(code, { kind: 'Status', code, reason, message: reason });
        if (this.failWith !== undefined) {
          this.failedAt.push(Date.now());
          return fail(this.failWith, 'Injected');
        }
        const p = FakeObjectStore.parse(url.pathname);
        if (!p) return fail(404, 'NotFound');
        const method = req.method ?? 'GET';
        if (method !== 'GET') this.writes.push(`${method} ${url.pathname}`);
        const body = text ? (JSON.parse(text) as Obj) : undefined;
        const existing = this.objects.get(p.key);
        if (method === 'GET' && !p.name) {
          const sel = url.searchParams.get('labelSelector');
          const want = sel ? Object.fromEntries(sel.split(',').map((kv) => kv.split('='))) as Record<string, string> : {};
          const items = this.list(p.collection).filter((o) => Object.entries(want).every(([k, v]) => o.metadata.labels?.[k] === v));
          this.lists.push(url);
          // Pages as the API server cuts them: `limit` items, the continue token the offset of the next.
          const limit = Number(url.searchParams.get('limit') ?? 0);
          const from = Number(url.searchParams.get('continue') ?? 0);
          if (limit > 0 && from + limit < items.length) return send(200, { items: items.slice(from, from + limit), metadata: { continue: String(from + limit) } });
          return send(200, { items: items.slice(from), metadata: {} });
        }
        if (method === 'GET') return existing ? send(200, existing) : fail(404, 'NotFound');
        if (method === 'POST') {
          if (!body) return fail(400, 'BadRequest');
          const key = `${p.collection}/${body.metadata.name}`;
          if (this.objects.has(key)) return fail(409, 'AlreadyExists');
          const created: Obj = { ...body, status: undefined };
          this.put(p.collection, created);
          return send(201, this.objects.get(key));
        }
        if (!existing) return fail(404, 'NotFound');
        if (method === 'DELETE') {
          this.objects.delete(p.key);
          return send(200, existing);
        }
        if (method === 'PUT' && body) {
          if (body.metadata.resourceVersion !== existing.metadata.resourceVersion) return fail(409, 'Conflict');
          const next: Obj = p.sub === 'status' ? { ...existing, status: body.status } : { ...body, status: existing.status };
          this.put(p.collection, next);
          return send(200, this.objects.get(p.key));
        }
        if (method === 'PATCH' && p.sub === 'status' && body) {
          // A JSON merge patch of the status (what kube/pool-status.ts sends).
          const status = { ...(existing.status as Record<string, unknown> | undefined), ...(body.status as Record<string, unknown>) };
          this.put(p.collection, { ...existing, status });
          return send(200, this.objects.get(p.key));
        }
        return fail(405, 'MethodNotAllowed');
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', () => r()));
    const a = this.server.address();
    const port = typeof a === 'object' && a ? a.port : 0;
    const kc = new KubeConfig();
    kc.loadFromOptions({ clusters: [{ name: 'c', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }], users: [{ name: 'u', token: 't' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    return kc;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
