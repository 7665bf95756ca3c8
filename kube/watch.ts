// One watch stream (GET ...?watch=true): newline-delimited JSON events over openRequest's
// transport, handed to a callback as they arrive.
import { StringDecoder } from 'node:string_decoder';
import type { KubeAccess } from './access.js';
import { errnoOf, KubeApiError, openRequest } from './request.js';

export interface WatchEvent {
  /** ADDED, MODIFIED, DELETED, BOOKMARK or ERROR. */
  type: string;
  object: unknown;
}

export interface WatchOptions {
  /** Query parameters besides watch=true (resourceVersion, allowWatchBookmarks, timeoutSeconds, selectors). */
  params: Record<string, string | number | boolean | undefined>;
  signal: AbortSignal;
  /** The stream fails when nothing arrives for this long (a dead connection the kernel has not noticed). */
  idleTimeoutMs: number;
  /** Called once the server accepted the watch (2xx headers), before any event. */
  onOpen?: () => void;
  /** Called per event; 'stop' ends the stream (resolved). A throw ends it with that error. */
  onEvent: (ev: WatchEvent) => 'stop' | void;
}

/**
 * Streams one watch until the server ends it (resolves), onEvent says 'stop' (resolves), or it
 * fails: HTTP error (KubeApiError with the status, e.g. 410), transport error, a line that is not
 * a JSON event, idle timeout, or abort (rejects with the signal's reason).
 */
export async function watchStream(kc: KubeAccess, path: string, opts: WatchOptions): Promise<void> {
  const q = new URLSearchParams({ watch: 'true' });
  for (const [k, v] of Object.entries(opts.params)) if (v !== undefined) q.set(k, String(v));
  let res: Awaited<ReturnType<typeof openRequest>>;
  try {
    res = await openRequest(kc, 'GET', `${path}?${q.toString()}`, { signal: opts.signal, timeoutMs: opts.idleTimeoutMs });
  } catch (err) {
    throw opts.signal.aborted ? opts.signal.reason : err;
  }
  opts.onOpen?.();
  return new Promise<void>((resolve, reject) => {
    let done = false;
    const finish = (err?: unknown): void => {
      if (done) return;
      done = true;
      opts.signal.removeEventListener('abort', onAbort);
      if (!res.complete) res.destroy();
      if (err === undefined) resolve();
      else reject(err);
    };
    const onAbort = (): void => finish(opts.signal.reason);
    if (opts.signal.aborted) return finish(opts.signal.reason);
    opts.signal.addEventListener('abort', onAbort, { once: true });
    const decoder = new StringDecoder('utf8');
    let pending = '';
    let lineNo = 0;
    const line = (text: string): boolean => {
      lineNo++;
      if (!text.trim()) return true;
      let ev: WatchEvent;
      try {
        ev = JSON.parse(text) as WatchEvent;
      } catch {
        finish(new KubeApiError(0, 'WATCH', path, undefined, `line ${lineNo} of the watch stream is not JSON`));
        return false;
      }
      if (typeof ev !== 'object' || ev === null || typeof ev.type !== 'string') {
        finish(new KubeApiError(0, 'WATCH', path, undefined, `line ${lineNo} of the watch stream is not a watch event`));
        return false;
      }
      try {
        if (opts.onEvent(ev) === 'stop') {
          finish();
          return false;
        }
      } catch (err) {
        finish(err);
        return false;
      }
      return true;
    };
    res.on('data', (chunk: Buffer) => {
      if (done) return;
      pending += decoder.write(chunk);
      let start = 0;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n', start)) {
        if (!line(pending.slice(start, nl))) return;
        start = nl + 1;
      }
      pending = pending.slice(start);
    });
    res.on('end', () => {
      if (done) return;
      const rest = pending + decoder.end();
      if (rest.trim() && !line(rest)) return;
      finish();
    });
    res.on('error', (e) => finish(opts.signal.aborted ? opts.signal.reason : new KubeApiError(0, 'WATCH', path, undefined, e.message, errnoOf(e))));
    res.on('close', () => {
      if (!res.complete) finish(opts.signal.aborted ? opts.signal.reason : new KubeApiError(0, 'WATCH', path, undefined, 'connection closed mid-stream'));
    });
  });
}
