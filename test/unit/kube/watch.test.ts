// The watch stream against a scripted HTTP server on loopback: line framing across chunks, errors
// (HTTP status, bad lines, silence), stop and abort.
import { afterEach, describe, expect, it } from 'vitest';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { KubeAccess } from '../../../kube/access.js';
import { KubeApiError } from '../../../kube/request.js';
import { watchStream, type WatchEvent } from '../../../kube/watch.js';

let server: Server | undefined;

afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = undefined;
});

async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<KubeAccess> {
  server = createServer(handler);
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', () => r()));
  const a = server.address();
  const port = typeof a === 'object' && a ? a.port : 0;
  return { getCurrentCluster: () => ({ server: `http://127.0.0.1:${port}` }), applyToHTTPSOptions: async () => undefined };
}

function collect(kc: KubeAccess, opts: { idleTimeoutMs?: number; signal?: AbortSignal; stopAt?: string } = {}): { events: WatchEvent[]; done: Promise<void> } {
  const events: WatchEvent[] = [];
  const done = watchStream(kc, '/api/v1/configmaps', {
    params: { resourceVersion: '5', allowWatchBookmarks: true, labelSelector: undefined },
    signal: opts.signal ?? new AbortController().signal,
    idleTimeoutMs: opts.idleTimeoutMs ?? 5000,
    onEvent: (ev) => {
      events.push(ev);
      return opts.stopAt !== undefined && (ev.object as { n?: string }).n === opts.stopAt ? 'stop' : undefined;
    },
  });
  return { events, done };
}

describe('watchStream', () => {
  it('frames lines split across chunks, with or without a final newline; sends watch=true and the parameters', async () => {
    let url = '';
    const kc = await serve((req, res) => {
      url = req.url ?? '';
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('{"type":"ADDED","object":{"n":"a"}}\n{"type":"MOD');
      setTimeout(() => {
        res.write('IFIED","object":{"n":"é"}}\n\n{"type":"DELETED",');
        setTimeout(() => res.end('"object":{"n":"c"}}'), 10);
      }, 10);
    });
    const { events, done } = collect(kc);
    await done;
    expect(events.map((e) => `${e.type} ${(e.object as { n: string }).n}`)).toEqual(['ADDED a', 'MODIFIED é', 'DELETED c']);
    expect(url).toBe('/api/v1/configmaps?watch=true&resourceVersion=5&allowWatchBookmarks=true');
  });

  it('rejects with the HTTP status (410 Gone makes the informer re-list)', async () => {
    const kc = await serve((_req, res) => {
      res.writeHead(410, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' }));
    });
    const err = await collect(kc).done.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(err).toMatchObject({ status: 410, reason: 'Expired' });
  });

  it('rejects on a line that is not a JSON event, naming the line', async () => {
    const kc = await serve((_req, res) => {
      res.writeHead(200);
      res.write('{"type":"ADDED","object":{}}\nnot json\n');
    });
    const { events, done } = collect(kc);
    await expect(done).rejects.toThrow(/line 2 of the watch stream is not JSON/);
    expect(events).toHaveLength(1);
  });

  it('rejects when the stream stays silent past the idle timeout', async () => {
    const kc = await serve((_req, res) => {
      res.writeHead(200);
      res.flushHeaders();
    });
    await expect(collect(kc, { idleTimeoutMs: 150 }).done).rejects.toThrow(/timed out after 150 ms|closed/);
  });

  it('resolves when onEvent says stop, and rejects with the reason on abort', async () => {
    const kc = await serve((_req, res) => {
      res.writeHead(200);
      res.write('{"type":"ADDED","object":{"n":"a"}}\n{"type":"ERROR","object":{"n":"stop"}}\n{"type":"ADDED","object":{"n":"late"}}\n');
    });
    const stopped = collect(kc, { stopAt: 'stop' });
    await stopped.done;
    expect(stopped.events).toHaveLength(2);
    const ac = new AbortController();
    const aborted = collect(kc, { signal: ac.signal, stopAt: 'never' });
    await new Promise((r) => setTimeout(r, 50));
    ac.abort(new Error('informer stopped'));
    await expect(aborted.done).rejects.toThrow('informer stopped');
  });
});
