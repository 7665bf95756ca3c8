// List + watch cache of one resource: what client-node's ListWatch does, plus what it lacks for a
// long-running controller: reconnect with backoff on errors (ListWatch stops at the first error),
// watch bookmarks, paginated lists, a synced signal, the previous object on update, and one
// object shape for list and watch (ListWatch mixes deserialized list items with raw watch JSON).
// Lists and watches are our own raw JSON requests (request.ts, watch.ts).
import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeAccess } from './access.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { FIRST_PAGE_ITEMS, nextPageSize } from './list-pages.js';
import { sleep, systemClock, yieldToTimers, type Clock } from './clock.js';
import { errorStatus, KubeApiError, kubeRequest, onApiSuccess } from './request.js';
import { watchStream, type WatchEvent } from './watch.js';

export interface InformerOptions<T extends KubernetesObject> {
  kubeConfig: KubeAccess;
  /** Collection path, e.g. /api/v1/services or /api/v1/namespaces/ns/configmaps. */
  path: string;
  fieldSelector?: string;
  labelSelector?: string;
  /** Turns one raw JSON object (from list or watch) into T. */
  decode: (raw: unknown) => T;
  clock?: Clock;
  /** Reconnect backoff; default 200 ms doubling to 30 s. */
  backoff?: Partial<BackoffOptions>;
  /** The first list page's size (0: unpaginated); later pages hold about pageBytes (list-pages.ts). Default 500. */
  pageSize?: number;
  /** About how many bytes of JSON a later list page holds. Default PAGE_BYTES (8 MiB). */
  pageBytes?: number;
  /** Server-side watch timeout; the watch is re-established from the last resourceVersion after it. Default 300 s. */
  watchTimeoutSeconds?: number;
  /** Name used in error messages. */
  name?: string;
}

export type InformerEventHandler<T> = (obj: T, old: T | undefined) => void;

export interface InformerStats {
  /** Full lists done (first sync + every re-list). */
  lists: number;
  /** Re-lists caused by 410 Gone (resourceVersion compacted or too old). */
  gone: number;
  /** Watch requests opened. */
  watches: number;
  /** Errors that led to a backoff. */
  errors: number;
  /** Bookmarks received. */
  bookmarks: number;
  /** Back-off pauses cut short because another request to the server succeeded (the server is back). */
  resumedEarly: number;
}

/**
 * Where a decoder may keep an object's key, built once (keyOf): objectKey then hands out that one
 * string, so the informer cache, the work queues and a daemon's own maps share it instead of holding
 * a copy each (10,000s of Services). A symbol, so no field of the API's JSON can collide with it.
 */
export const OBJECT_KEY: unique symbol = Symbol('herald.objectKey');

/** An object that may carry its key (OBJECT_KEY). */
export type KeyedObject = KubernetesObject & { readonly [OBJECT_KEY]?: string };

/** The key of an object in informer caches and work queues: "namespace/name", or "name" if cluster-scoped. */
export function objectKey(obj: KeyedObject): string {
  return obj[OBJECT_KEY] ?? keyOf(obj.metadata?.namespace, obj.metadata?.name);
}

/** "namespace/name", or "name" without a namespace: what objectKey gives, for a decoder to keep (OBJECT_KEY). */
export function keyOf(ns: string | undefined, name: string | undefined): string {
  name ??= '';
  // join(), not a template: a concatenation of 13+ characters is a cons string, and the Map that keys
  // on it flattens it into a second copy (32 bytes more per cached object, measured at 100,000).
  return ns ? [ns, name].join('/') : name;
}

/**
 * What a consumer of an informer uses: the cache and its change events. Informer implements it; a
 * test can drive a daemon with its own source (the controller's model test delivers API events at
 * chosen moments of the leader's start-up).
 */
export interface InformerSource<T extends KubernetesObject> {
  on(event: 'add' | 'update' | 'delete', handler: InformerEventHandler<T>): this;
  on(event: 'error', handler: (err: Error) => void): this;
  /** Resolves when the cache has synced. */
  start(): Promise<void>;
  stop(): Promise<void>;
  get(key: string): T | undefined;
  list(namespace?: string): T[];
  keys(): string[];
  readonly size: number;
  /** The resource watched (services, configmaps, leases, ...): the metrics label. */
  readonly resource?: string;
  /** Seconds since the last sign of life of the list/watch (undefined before the first list). */
  lastEventAgeSeconds?(): number | undefined;
  /** Counters of the list/watch loop (a real Informer's; fakes may have none). */
  readonly stats?: InformerStats;
  /**
   * Resolves, with the list's number (1 for the first), once a list's snapshot is fixed: its first
   * page answered, so later pages show the same resourceVersion. A request sent after it reads a
   * state at least as new as that list's. Resolves at once when one is fixed already (the latest).
   */
  listSnapshot?(): Promise<number>;
  /** The number of the list the cache first synced from (undefined before it). */
  readonly syncedFromList?: number;
  /** Lists requested so far (a list is numbered when its first page is requested). */
  readonly listsRequested?: number;
  /**
   * Resolves once a list requested after this call has been applied to the cache: the cache is then
   * at least as new as the moment of the call (a watch resumed after an outage may still be
   * delivering what happened during it). Ends the current watch or back-off pause to list at once.
   */
  relist?(): Promise<void>;
}

/** Outcome of one watch stream. */
type WatchEnd = { kind: 'closed'; events: number } | { kind: 'gone' };

export class Informer<T extends KubernetesObject> implements InformerSource<T> {
  private store = new Map<string, T>();
  private rv = '';
  private readonly handlers = {
    add: [] as InformerEventHandler<T>[],
    update: [] as InformerEventHandler<T>[],
    delete: [] as InformerEventHandler<T>[],
    error: [] as ((err: Error) => void)[],
  };
  private running = false;
  private abort: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private syncedFlag = false;
  private resolveSynced!: () => void;
  /** Resolves once the first list has been applied to the cache. */
  readonly synced: Promise<void>;
  readonly stats: InformerStats = { lists: 0, gone: 0, watches: 0, errors: 0, bookmarks: 0, resumedEarly: 0 };
  private readonly clock: Clock;
  private readonly backoff: Backoff;
  private readonly name: string;
  /** When the list/watch last showed life: a list, a watch accepted, any event or bookmark (clock time). */
  private lastEventAt: number | undefined;
  readonly resource: string;
  /** Lists requested so far, the latest whose first page was answered (its snapshot fixed), and who waits for the next one. */
  listsRequested = 0;
  private snapshots = 0;
  private snapshotWaiters: ((list: number) => void)[] = [];
  syncedFromList: number | undefined;
  /** relist() callers: each waits for a list numbered above `after` to be applied. */
  private relistWaiters: { after: number; resolve: () => void }[] = [];
  /** Ends the current watch or back-off pause when relist() is called (undefined while listing). */
  private interrupt: AbortController | undefined;

  constructor(private readonly opts: InformerOptions<T>) {
    this.resource = opts.path.split('/').pop() ?? opts.path;
    this.clock = opts.clock ?? systemClock;
    this.backoff = new Backoff({ initialMs: 200, maxMs: 30_000, ...opts.backoff });
    this.name = opts.name ?? opts.path;
    this.synced = new Promise((resolve) => (this.resolveSynced = resolve));
  }

  on(event: 'add' | 'update' | 'delete', handler: InformerEventHandler<T>): this;
  on(event: 'error', handler: (err: Error) => void): this;
  on(event: 'add' | 'update' | 'delete' | 'error', handler: InformerEventHandler<T> | ((err: Error) => void)): this {
    (this.handlers[event] as unknown[]).push(handler);
    return this;
  }

  /** Starts listing and watching; resolves when the cache has synced (retrying errors meanwhile). */
  async start(): Promise<void> {
    if (!this.running) {
      this.running = true;
      this.abort = new AbortController();
      this.loop = this.run(this.abort.signal);
    }
    await Promise.race([this.synced, this.loop]);
  }

  async stop(): Promise<void> {
    this.running = false;
    this.abort?.abort(new Error('informer stopped'));
    await this.loop;
    this.loop = undefined;
  }

  hasSynced(): boolean {
    return this.syncedFlag;
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(namespace?: string): T[] {
    const all = [...this.store.values()];
    return namespace === undefined ? all : all.filter((o) => o.metadata?.namespace === namespace);
  }

  keys(): string[] {
    return [...this.store.keys()];
  }

  get size(): number {
    return this.store.size;
  }

  lastEventAgeSeconds(): number | undefined {
    return this.lastEventAt === undefined ? undefined : Math.max(0, (this.clock.now() - this.lastEventAt) / 1000);
  }

  listSnapshot(): Promise<number> {
    if (this.snapshots > 0) return Promise.resolve(this.snapshots);
    return new Promise((resolve) => this.snapshotWaiters.push(resolve));
  }

  relist(): Promise<void> {
    const after = this.listsRequested;
    const done = new Promise<void>((resolve) => this.relistWaiters.push({ after, resolve }));
    this.interrupt?.abort(new Error('relist requested'));
    return done;
  }

  /** The resourceVersion the cache is at ('' before the first list and after a 410). */
  get resourceVersion(): string {
    return this.rv;
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      // Ends the watch or the pause below, not the loop: relist() wants a list now.
      let interrupt: AbortController | undefined;
      try {
        while (!this.rv || this.relistWaiters.length > 0) await this.listAll(signal);
        interrupt = this.interruptible(signal);
        const started = this.clock.now();
        const end = await this.watchOnce(interrupt.signal);
        if (end.kind === 'gone') {
          this.stats.gone++;
          this.rv = '';
          continue;
        }
        // A stream that ends at once without events (a server going away) must not spin.
        if (end.events > 0 || this.clock.now() - started > 5_000) this.backoff.reset();
        else await sleep(this.clock, this.backoff.next(), interrupt.signal);
      } catch (err) {
        if (signal.aborted) break;
        if (interrupt?.signal.aborted) continue;
        if (errorStatus(err) === 410) {
          this.stats.gone++;
          this.rv = '';
          continue;
        }
        this.stats.errors++;
        this.emitError(err);
        // A relist() from now on ends the pause; one already waiting keeps its back-off (a failing list must not spin).
        interrupt?.abort(new Error('watch ended'));
        interrupt = this.interruptible(signal);
        try {
          // Unreachable (no HTTP answer): retry as soon as another request reaches the server.
          await this.pause(this.backoff.next(), interrupt.signal, errorStatus(err) === 0);
        } catch {
          if (signal.aborted) break;
        }
      } finally {
        this.interrupt = undefined;
        // Unhooks it from `signal` (the loop's, alive for the informer's whole life).
        interrupt?.abort(new Error('watch ended'));
      }
    }
  }

  /** A signal for the next watch or pause: aborted with `signal`, or by a relist() called from now on. */
  private interruptible(signal: AbortSignal): AbortController {
    const c = new AbortController();
    const onAbort = (): void => c.abort(signal.reason);
    if (signal.aborted) c.abort(signal.reason);
    else signal.addEventListener('abort', onAbort, { once: true });
    c.signal.addEventListener('abort', () => signal.removeEventListener('abort', onAbort), { once: true });
    this.interrupt = c;
    return c;
  }

  /** Waits `ms`, or less if `wakeOnSuccess` and another request to the same server succeeds meanwhile. */
  private async pause(ms: number, signal: AbortSignal, wakeOnSuccess: boolean): Promise<void> {
    if (!wakeOnSuccess) return sleep(this.clock, ms, signal);
    const wake = new AbortController();
    const off = onApiSuccess(this.opts.kubeConfig, () => wake.abort());
    const onAbort = (): void => wake.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await sleep(this.clock, ms, wake.signal);
    } catch {
      // woken early (or stopped: checked below)
    } finally {
      off();
      signal.removeEventListener('abort', onAbort);
    }
    if (signal.aborted) throw signal.reason;
    if (wake.signal.aborted) this.stats.resumedEarly++;
  }

  private emitError(err: unknown): void {
    const e = err instanceof Error ? err : new Error(String(err));
    for (const h of this.handlers.error) h(e);
  }

  private query(extra: Record<string, string>): string {
    const q = new URLSearchParams(extra);
    if (this.opts.fieldSelector) q.set('fieldSelector', this.opts.fieldSelector);
    if (this.opts.labelSelector) q.set('labelSelector', this.opts.labelSelector);
    return q.toString();
  }

  /**
   * Lists everything (page by page), replaces the cache and emits the differences. A consistent list
   * (no resourceVersion: read from etcd, or from 1.31's watch cache once it is as new as etcd), not
   * resourceVersion=0's any-staleness cache read: a controller restoring from a stale list could hand an
   * address its predecessor just wrote to another Service. Not resourceVersion=<etcd's revision> either:
   * up to 1.30 the watch cache of one resource only moves with that resource's own events, so that read
   * waits 3 s for a write to Services that may never come and fails with 504 (measured on 1.20).
   */
  private async listAll(signal: AbortSignal): Promise<void> {
    const firstPage = this.opts.pageSize ?? FIRST_PAGE_ITEMS;
    let pageSize = firstPage;
    let bytes = 0;
    const onBodyBytes = (n: number): void => void (bytes = n);
    const items: T[] = [];
    let rv = '';
    let cont = '';
    let paginate = firstPage > 0;
    for (;;) {
      const params: Record<string, string> = {};
      if (paginate) params.limit = String(pageSize);
      if (cont) params.continue = cont;
      let page: { metadata?: { resourceVersion?: string; continue?: string }; items?: unknown[] };
      if (!cont) this.listsRequested++;
      try {
        page = (await kubeRequest(this.opts.kubeConfig, 'GET', `${this.opts.path}?${this.query(params)}`, { signal, onBodyBytes })) as typeof page;
      } catch (err) {
        // An expired continue token: start over with one unpaginated list, as client-go does.
        if (cont && errorStatus(err) === 410) {
          items.length = 0;
          cont = '';
          paginate = false;
          continue;
        }
        throw err;
      }
      if (!cont) this.snapshotFixed();
      const raws = page.items ?? [];
      for (const raw of raws) items.push(this.opts.decode(raw));
      rv = page.metadata?.resourceVersion ?? rv;
      cont = page.metadata?.continue ?? '';
      if (!cont) break;
      pageSize = nextPageSize(raws.length, bytes, pageSize, this.opts.pageBytes);
    }
    if (!rv) throw new KubeApiError(0, 'GET', this.opts.path, undefined, 'list returned no resourceVersion');
    // The last page's decoding and the handlers below (10,000s of events) are two long turns, not one:
    // a speaker's Lease renewal falling due meanwhile goes out between them (on a starved machine one
    // turn held it ~2 s: the speaker fenced itself at start).
    await yieldToTimers();
    if (signal.aborted) throw signal.reason;
    this.stats.lists++;
    // The server answers again: the next failure starts over from the shortest delay.
    this.backoff.reset();
    this.lastEventAt = this.clock.now();
    const old = this.store;
    const next = new Map<string, T>();
    for (const obj of items) next.set(objectKey(obj), obj);
    this.store = next;
    this.rv = rv;
    for (const [key, obj] of next) {
      const prev = old.get(key);
      if (!prev) this.emit('add', obj, undefined);
      else if (prev.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit('update', obj, prev);
    }
    for (const [key, prev] of old) if (!next.has(key)) this.emit('delete', prev, undefined);
    if (!this.syncedFlag) {
      this.syncedFlag = true;
      this.syncedFromList = this.listsRequested;
      this.resolveSynced();
    }
    const applied = this.listsRequested;
    const waiting = this.relistWaiters;
    this.relistWaiters = waiting.filter((w) => w.after >= applied);
    for (const w of waiting) if (w.after < applied) w.resolve();
  }

  /** A list's first page is answered: its snapshot is fixed (an unpaginated restart counts as a new list). */
  private snapshotFixed(): void {
    this.snapshots = this.listsRequested;
    const waiters = this.snapshotWaiters;
    this.snapshotWaiters = [];
    for (const w of waiters) w(this.snapshots);
  }

  private emit(event: 'add' | 'update' | 'delete', obj: T, old: T | undefined): void {
    for (const h of this.handlers[event]) {
      try {
        h(obj, old);
      } catch (err) {
        this.emitError(err);
      }
    }
  }

  private apply(ev: WatchEvent): 'gone' | undefined {
    switch (ev.type) {
      case 'ADDED':
      case 'MODIFIED': {
        const obj = this.opts.decode(ev.object);
        const key = objectKey(obj);
        const prev = this.store.get(key);
        this.store.set(key, obj);
        this.rv = obj.metadata?.resourceVersion ?? this.rv;
        if (!prev) this.emit('add', obj, undefined);
        else if (prev.metadata?.resourceVersion !== obj.metadata?.resourceVersion) this.emit('update', obj, prev);
        return undefined;
      }
      case 'DELETED': {
        const obj = this.opts.decode(ev.object);
        const key = objectKey(obj);
        const prev = this.store.get(key);
        this.store.delete(key);
        this.rv = obj.metadata?.resourceVersion ?? this.rv;
        if (prev) this.emit('delete', obj, prev);
        return undefined;
      }
      case 'BOOKMARK': {
        const md = (ev.object as { metadata?: { resourceVersion?: string } } | undefined)?.metadata;
        if (md?.resourceVersion) this.rv = md.resourceVersion;
        this.stats.bookmarks++;
        return undefined;
      }
      case 'ERROR': {
        const st = ev.object as { code?: number; reason?: string; message?: string } | undefined;
        if (st?.code === 410) return 'gone';
        throw new KubeApiError(st?.code ?? 0, 'WATCH', this.opts.path, st?.reason, st?.message ?? 'watch error event');
      }
      default:
        return undefined;
    }
  }

  /** One watch stream from the current resourceVersion, until the server closes it or it fails. */
  private async watchOnce(signal: AbortSignal): Promise<WatchEnd> {
    this.stats.watches++;
    let events = 0;
    let gone = false;
    const timeoutSeconds = this.opts.watchTimeoutSeconds ?? 300;
    await watchStream(this.opts.kubeConfig, this.opts.path, {
      params: {
        resourceVersion: this.rv,
        allowWatchBookmarks: true,
        timeoutSeconds,
        fieldSelector: this.opts.fieldSelector,
        labelSelector: this.opts.labelSelector,
      },
      signal,
      onOpen: () => (this.lastEventAt = this.clock.now()),
      // The server ends the stream after timeoutSeconds; silence well past that is a dead connection.
      idleTimeoutMs: (timeoutSeconds + 30) * 1000,
      onEvent: (ev) => {
        this.lastEventAt = this.clock.now();
        if (this.apply(ev) === 'gone') {
          gone = true;
          return 'stop';
        }
        events++;
      },
    });
    return gone ? { kind: 'gone' } : { kind: 'closed', events };
  }
}
