// A model of the API server around one real Controller, for the churn-and-restart model test and its
// benchmark: Services created, updated and deleted; ConfigMap changes; API errors; leadership lost and
// won; the controller process restarted. Every API interaction is held until the model lets it
// happen, so a command sequence can put a Service delete between a new leader's list and its
// restore, or a watch event before or after a status write. After each command the invariants are
// checked on what the "API server" stores.
import fc from 'fast-check';
import type { V1ConfigMap, V1Lease, V1Service } from '@kubernetes/client-node';
import { Controller, type EventSink } from '../../../controller/controller.js';
import type { Lock } from '../../../controller/leader.js';
import { ControllerMetrics } from '../../../controller/metrics.js';
import { objectKey, type InformerEventHandler, type InformerSource } from '../../../kube/informer.js';
import type { LeaseOutcome } from '../../../kube/lease.js';
import { createLogger } from '../../../kube/log.js';
import { KubeApiError } from '../../../kube/request.js';
import { withWrite, type StatusWrite } from '../../../kube/status.js';
import type { KubeAccess } from '../../../kube/access.js';
import { FakeClock } from '../kube/fake-clock.js';

const NS = 'ns';
export const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'] as const;

/** The address pools the ConfigMap may hold (YAML of MetalLB's legacy format). */
export const CONFIGS = [
  'address-pools:\n- name: p\n  protocol: layer2\n  addresses: [192.0.2.0/30]\n',
  'address-pools:\n- name: p\n  protocol: layer2\n  addresses: [192.0.2.0/30]\n- name: q\n  protocol: layer2\n  addresses: [198.51.100.0/31]\n  auto-assign: false\n',
  // Drops 192.0.2.0/30: refused while a Service holds one of them.
  'address-pools:\n- name: q\n  protocol: layer2\n  addresses: [198.51.100.0/31]\n',
  'address-pools:\n- name: p\n  protocol: layer2\n  addresses: [192.0.2.0/29]\n  avoid-buggy-ips: true\n',
  'address-pools: [{name: p, protocol: bogus}]\n', // invalid
] as const;

/** What a Service may ask for. */
export const SHAPES = ['plain', 'ip-192.0.2.0', 'ip-192.0.2.2', 'ip-198.51.100.1', 'ip-203.0.113.1', 'pool-q', 'clusterip'] as const;
export type Shape = (typeof SHAPES)[number];

export type ApiFault = 'http500' | 'http429' | 'reset';

export type Command =
  | { kind: 'create'; name: string; shape: Shape }
  | { kind: 'update'; name: string; shape: Shape }
  | { kind: 'delete'; name: string }
  /** Deletes the `index`-th (modulo their count) Service whose status shows an address. */
  | { kind: 'deleteHeld'; index: number }
  | { kind: 'config'; index: number }
  | { kind: 'deleteConfig' }
  /** The next `count` requests (lists and status writes) fail with `fault`. */
  | { kind: 'faults'; count: number; fault: ApiFault }
  /** The API server answers the in-flight request number `index` (modulo their count). */
  | { kind: 'answer'; index: number }
  /** Watch events reach the controller's informers (`count` of them). */
  | { kind: 'deliver'; count: number }
  /** Time passes (work-queue retries, Lease renewals). */
  | { kind: 'tick'; ms: number }
  | { kind: 'loseLease' }
  | { kind: 'winLease' }
  /** A calm moment: this replica may lead; for 3 s every answerable request is answered and every event delivered. */
  | { kind: 'calm' }
  /** The controller process is stopped and a new one starts (cold caches). */
  | { kind: 'restart' }
  /**
   * A new leader's start-up with `during` run while its list of Services is in flight (answered
   * after them): `via` a process restart or the Lease lost and won back by the same process.
   */
  | { kind: 'startUp'; via: 'restart' | 'lease'; during: Command[] };

/** What can happen while a leader's list is in flight. */
const duringArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('create' as const), name: fc.constantFrom(...NAMES), shape: fc.constantFrom(...SHAPES) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('update' as const), name: fc.constantFrom(...NAMES), shape: fc.constantFrom(...SHAPES) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), name: fc.constantFrom(...NAMES) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('deleteHeld' as const), index: fc.nat(5) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('config' as const), index: fc.integer({ min: 0, max: CONFIGS.length - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('faults' as const), count: fc.integer({ min: 1, max: 2 }), fault: fc.constantFrom<ApiFault>('http500', 'http429', 'reset') }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('answer' as const), index: fc.nat(7) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('deliver' as const), count: fc.integer({ min: 1, max: 6 }) }) },
);

export const commandArb: fc.Arbitrary<Command> = fc.oneof(
  { weight: 7, arbitrary: fc.record({ kind: fc.constant('create' as const), name: fc.constantFrom(...NAMES), shape: fc.constantFrom(...SHAPES) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('update' as const), name: fc.constantFrom(...NAMES), shape: fc.constantFrom(...SHAPES) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('delete' as const), name: fc.constantFrom(...NAMES) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('deleteHeld' as const), index: fc.nat(5) }) },
  // Mostly configs that apply; a breaking, an invalid or a deleted one now and then.
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('config' as const), index: fc.constantFrom(0, 0, 1, 1, 3, 2, 4) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'deleteConfig' as const }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('faults' as const), count: fc.integer({ min: 1, max: 4 }), fault: fc.constantFrom<ApiFault>('http500', 'http429', 'reset') }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('answer' as const), index: fc.nat(7) }) },
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('deliver' as const), count: fc.integer({ min: 1, max: 4 }) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('tick' as const), ms: fc.constantFrom(100, 1_000, 3_000) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'loseLease' as const }) },
  { weight: 2, arbitrary: fc.constant({ kind: 'winLease' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'restart' as const }) },
  { weight: 5, arbitrary: fc.constant({ kind: 'calm' as const }) },
  {
    weight: 3,
    arbitrary: fc.record({
      kind: fc.constant('startUp' as const),
      via: fc.constantFrom<'restart' | 'lease'>('restart', 'lease'),
      // Often every event up to the list's answer reaches the informer first.
      during: fc.tuple(fc.array(duringArb, { maxLength: 6 }), fc.boolean()).map(([cs, all]) => (all ? [...cs, { kind: 'deliver' as const, count: 20 }] : cs)),
    }),
  },
);

export const commandsArb = fc.array(commandArb, { minLength: 5, maxLength: 50, size: 'max' });

type Kind = 'service' | 'configmap';
interface LogEntry {
  kind: Kind;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  obj: V1Service | V1ConfigMap;
}

type Request =
  | { kind: 'list'; snapshot: V1Service[]; resolve: (v: V1Service[]) => void; reject: (e: unknown) => void }
  /** The Service informer's list: its snapshot is what the server held when the request arrived. */
  | { kind: 'informerList'; resolve: () => void; reject: () => void }
  | {
      kind: 'write';
      name: string;
      mutate: (svc: V1Service) => StatusWrite | undefined;
      resolve: (v: unknown) => void;
      reject: (e: unknown) => void;
    };

/**
 * The informer of one controller process: its own cache, fed from the API server's event log. The
 * ConfigMap's first list is answered at once; the Services' is a request the model answers when it
 * chooses (a fault makes the informer list again, with a new snapshot), so a leader's own list of
 * Services overlaps it in either order.
 */
class ModelInformer<T extends V1Service | V1ConfigMap> implements InformerSource<T> {
  private store = new Map<string, T>();
  private cursor = 0;
  private synced = false;
  private stopped = false;
  private lists = 0;
  private snapshotWaiters: ((list: number) => void)[] = [];
  private resolveStart: (() => void) | undefined;
  syncedFromList: number | undefined;
  private readonly handlers = { add: [] as InformerEventHandler<T>[], update: [] as InformerEventHandler<T>[], delete: [] as InformerEventHandler<T>[] };

  constructor(
    private readonly api: ModelApi,
    private readonly kind: Kind,
  ) {}

  on(event: 'add' | 'update' | 'delete' | 'error', handler: InformerEventHandler<T> | ((err: Error) => void)): this {
    if (event !== 'error') this.handlers[event].push(handler as InformerEventHandler<T>);
    return this;
  }

  /** The first list: the cache is what the server held at its snapshot; events after it are delivered later. */
  start(): Promise<void> {
    return new Promise((resolve) => {
      this.resolveStart = resolve;
      this.request();
    });
  }

  private request(): void {
    if (this.stopped) return;
    const list = ++this.lists;
    const snapshot = this.api.current(this.kind).map((o) => structuredClone(o) as T);
    const cursor = this.api.log.length;
    for (const w of this.snapshotWaiters.splice(0)) w(list);
    const sync = (): void => {
      if (this.stopped) return;
      this.store = new Map(snapshot.map((o) => [objectKey(o), o]));
      this.cursor = cursor;
      this.synced = true;
      this.syncedFromList = list;
      for (const o of this.store.values()) for (const h of this.handlers.add) h(o, undefined);
      this.resolveStart?.();
    };
    if (this.kind === 'configmap') sync();
    else this.api.inFlight.push({ kind: 'informerList', resolve: sync, reject: () => this.request() });
  }

  get listsRequested(): number {
    return this.lists;
  }

  listSnapshot(): Promise<number> {
    if (this.lists > 0) return Promise.resolve(this.lists);
    return new Promise((resolve) => this.snapshotWaiters.push(resolve));
  }

  stop(): Promise<void> {
    this.stopped = true;
    this.resolveStart?.();
    return Promise.resolve();
  }

  /** Delivers the next event of this kind; false if none is waiting (or the cache has not synced: no watch yet). */
  deliverOne(): boolean {
    if (!this.synced) return false;
    while (this.cursor < this.api.log.length) {
      const e = this.api.log[this.cursor++];
      if (e.kind !== this.kind) continue;
      const obj = structuredClone(e.obj) as T;
      const key = objectKey(obj);
      const prev = this.store.get(key);
      if (e.type === 'DELETED') {
        this.store.delete(key);
        if (prev) for (const h of this.handlers.delete) h(obj, prev);
      } else {
        this.store.set(key, obj);
        for (const h of prev ? this.handlers.update : this.handlers.add) h(obj, prev);
      }
      return true;
    }
    return false;
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }
  list(): T[] {
    return [...this.store.values()];
  }
  keys(): string[] {
    return [...this.store.keys()];
  }
  get size(): number {
    return this.store.size;
  }
}

/** The API server: what etcd holds, the watch event log, the requests in flight, the faults to inject. */
export class ModelApi {
  readonly services = new Map<string, V1Service>();
  configMap: V1ConfigMap | undefined;
  readonly log: LogEntry[] = [];
  readonly inFlight: Request[] = [];
  private rv = 1;
  private faults: ApiFault[] = [];
  /** Lists are held (not answered) while a start-up's `during` commands run. */
  holdLists = false;
  /** Faults injected (each makes the controller retry). */
  faultsServed = 0;

  current(kind: Kind): (V1Service | V1ConfigMap)[] {
    if (kind === 'configmap') return this.configMap ? [this.configMap] : [];
    return [...this.services.values()];
  }

  private nextRv(): string {
    return String(++this.rv);
  }

  private record(kind: Kind, type: LogEntry['type'], obj: V1Service | V1ConfigMap): void {
    this.log.push({ kind, type, obj: structuredClone(obj) });
  }

  putService(name: string, shape: Shape): void {
    const prev = this.services.get(`${NS}/${name}`);
    const svc: V1Service = {
      metadata: { name, namespace: NS, uid: prev?.metadata?.uid ?? `uid-${name}-${this.rv}`, resourceVersion: this.nextRv(), creationTimestamp: prev?.metadata?.creationTimestamp ?? new Date(1_700_000_000_000 + this.rv * 1000) },
      spec: { type: shape === 'clusterip' ? 'ClusterIP' : 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] },
      status: prev?.status ?? {},
    };
    if (shape.startsWith('ip-')) svc.spec = { ...svc.spec, loadBalancerIP: shape.slice(3) };
    if (shape === 'pool-q') svc.metadata = { ...svc.metadata, annotations: { 'metallb.universe.tf/address-pool': 'q' } };
    this.services.set(`${NS}/${name}`, svc);
    this.record('service', prev ? 'MODIFIED' : 'ADDED', svc);
  }

  deleteService(name: string): void {
    const svc = this.services.get(`${NS}/${name}`);
    if (!svc) return;
    this.services.delete(`${NS}/${name}`);
    this.record('service', 'DELETED', { ...svc, metadata: { ...svc.metadata, resourceVersion: this.nextRv() } });
  }

  putConfig(text: string): void {
    const prev = this.configMap;
    this.configMap = { metadata: { name: 'config', namespace: 'herald', uid: 'cm', resourceVersion: this.nextRv() }, data: { config: text } };
    this.record('configmap', prev ? 'MODIFIED' : 'ADDED', this.configMap);
  }

  deleteConfig(): void {
    if (!this.configMap) return;
    const cm = this.configMap;
    this.configMap = undefined;
    this.record('configmap', 'DELETED', { ...cm, metadata: { ...cm.metadata, resourceVersion: this.nextRv() } });
  }

  injectFaults(count: number, fault: ApiFault): void {
    for (let i = 0; i < count; i++) this.faults.push(fault);
  }

  clearFaults(): void {
    this.faults = [];
  }

  /** The controller's list: the server reads etcd when the request arrives, the answer comes later. */
  listServices(): Promise<V1Service[]> {
    return new Promise((resolve, reject) => this.inFlight.push({ kind: 'list', snapshot: structuredClone([...this.services.values()]), resolve, reject }));
  }

  updateStatus(_ns: string, name: string, mutate: (svc: V1Service) => StatusWrite | undefined): Promise<unknown> {
    return new Promise((resolve, reject) => this.inFlight.push({ kind: 'write', name, mutate, resolve, reject }));
  }

  /** Answers in-flight request `index`: with the next injected fault if any, else as the server would. */
  answer(index: number): boolean {
    const answerable = this.inFlight.filter((r) => !(this.holdLists && r.kind === 'list'));
    if (answerable.length === 0) return false;
    const req = answerable[index % answerable.length];
    this.inFlight.splice(this.inFlight.indexOf(req), 1);
    const fault = this.faults.shift();
    if (fault && req.kind === 'informerList') {
      this.faultsServed++;
      req.reject();
      return true;
    }
    if (req.kind === 'informerList') {
      req.resolve();
      return true;
    }
    if (fault) {
      this.faultsServed++;
      const path = req.kind === 'list' ? '/api/v1/services' : `/api/v1/namespaces/${NS}/services/${req.name}/status`;
      if (fault === 'reset') req.reject(new KubeApiError(0, 'GET', path, undefined, 'read ECONNRESET', 'ECONNRESET'));
      else if (fault === 'http429') req.reject(new KubeApiError(429, 'PUT', path, 'TooManyRequests', 'too many requests'));
      else req.reject(new KubeApiError(500, 'PUT', path, 'InternalError', 'etcdserver: request timed out'));
      return true;
    }
    if (req.kind === 'list') {
      req.resolve(req.snapshot);
      return true;
    }
    // updateServiceStatus: the write applies to the latest object (a conflict is re-read and recomputed).
    const svc = this.services.get(`${NS}/${req.name}`);
    if (!svc) {
      req.resolve(undefined);
      return true;
    }
    const write = req.mutate(structuredClone(svc));
    if (write === undefined) {
      req.resolve(svc);
      return true;
    }
    const stored = withWrite(svc, write);
    const next: V1Service = { ...stored, metadata: { ...stored.metadata, resourceVersion: this.nextRv() } };
    this.services.set(`${NS}/${req.name}`, next);
    this.record('service', 'MODIFIED', next);
    req.resolve(next);
    return true;
  }
}

/** The leader Lease as the model decides: held while `available`, else taken by another replica. */
class ModelLock implements Lock {
  available = true;
  private version = 0;
  acquireOrRenew(): Promise<LeaseOutcome> {
    // The other holder's Lease is short, so a lost Lease can be won back within a few model ticks.
    const lease: V1Lease = { metadata: { name: 'herald-controller', resourceVersion: String(++this.version) }, spec: { holderIdentity: this.available ? 'model' : 'other', leaseDurationSeconds: this.available ? 15 : 1 } };
    return Promise.resolve(this.available ? { kind: 'held', lease } : { kind: 'taken', holder: 'other', lease });
  }
  release(): Promise<boolean> {
    return Promise.resolve(true);
  }
}

const noEvents: EventSink = { record: () => undefined, close: () => Promise.resolve() };
const noAccess = {} as KubeAccess; // never used: every request goes through the model

/** One controller process against the model API server. */
interface Process {
  controller: Controller;
  /** controller.start(), awaited when the process stops (a failed start fails the run). */
  started: Promise<void>;
  services: ModelInformer<V1Service>;
  configMaps: ModelInformer<V1ConfigMap>;
}

export interface Violations {
  /** Addresses shown in the statuses of two Services at once. */
  duplicates: number;
  /** Addresses the leader holds for a Service that no longer exists (or is no LoadBalancer). */
  leaked: number;
  /** Addresses in a Service's status outside every pool of the config in force. */
  outsideConfig: number;
  /** Statuses that differ from what the leader holds for that Service. */
  inconsistent: number;
  /** A description of the first violation. */
  first?: string;
}

/** Runs one command sequence; returns the violations found (checked after every command, and after settling). */
export class ChurnRun {
  readonly api = new ModelApi();
  readonly clock = new FakeClock();
  private readonly lock = new ModelLock();
  private proc: Process | undefined;
  private generation = 0;

  /** `leaderElect` false: every process leads from its start (and restores from its informer's first list). */
  constructor(private readonly leaderElect = true) {}
  readonly violations: Violations = { duplicates: 0, leaked: 0, outsideConfig: 0, inconsistent: 0 };

  async start(): Promise<void> {
    this.clock.advance(1_700_000_000_000); // a plausible epoch for timestamps
    this.api.putConfig(CONFIGS[0]);
    await this.startProcess();
    // The first process starts with its Service cache synced (later starts overlap the leader's list).
    this.answerInformerLists();
    await flush();
  }

  /** Answers every Service informer list in flight. */
  answerInformerLists(): void {
    for (const r of this.api.inFlight.filter((x) => x.kind === 'informerList')) {
      this.api.inFlight.splice(this.api.inFlight.indexOf(r), 1);
      r.resolve();
    }
  }

  private async startProcess(): Promise<void> {
    const services = new ModelInformer<V1Service>(this.api, 'service');
    const configMaps = new ModelInformer<V1ConfigMap>(this.api, 'configmap');
    const controller = new Controller({
      kubeConfig: noAccess,
      namespace: 'herald',
      configMap: 'config',
      leaderElect: this.leaderElect,
      identity: `model-${++this.generation}`,
      leaseDurationMs: 15_000,
      logger: createLogger({ component: 'controller', level: 'silent' }),
      metrics: new ControllerMetrics({ processMetrics: false }),
      concurrency: 3,
      clock: this.clock,
      api: {
        services,
        configMaps,
        lock: this.lock,
        events: noEvents,
        listServices: () => this.api.listServices(),
        updateStatus: (ns, name, mutate) => this.api.updateStatus(ns, name, mutate),
      },
    });
    // start() returns once the informers synced: the model answers the Service list later.
    const started = controller.start();
    this.proc = { controller, services, configMaps, started };
    await flush();
  }

  async run(cmd: Command): Promise<void> {
    const api = this.api;
    switch (cmd.kind) {
      case 'create':
        if (!api.services.has(`${NS}/${cmd.name}`)) api.putService(cmd.name, cmd.shape);
        break;
      case 'update':
        if (api.services.has(`${NS}/${cmd.name}`)) api.putService(cmd.name, cmd.shape);
        break;
      case 'delete':
        api.deleteService(cmd.name);
        break;
      case 'deleteHeld': {
        const held = [...api.services.values()].filter((s) => (s.status?.loadBalancer?.ingress ?? []).length > 0);
        if (held.length > 0) api.deleteService(held[cmd.index % held.length].metadata?.name ?? '');
        break;
      }
      case 'config':
        api.putConfig(CONFIGS[cmd.index]);
        break;
      case 'deleteConfig':
        api.deleteConfig();
        break;
      case 'faults':
        api.injectFaults(cmd.count, cmd.fault);
        break;
      case 'answer':
        api.answer(cmd.index);
        break;
      case 'deliver':
        for (let i = 0; i < cmd.count; i++) this.deliverOne();
        break;
      case 'tick':
        await this.tick(cmd.ms);
        break;
      case 'loseLease':
        this.lock.available = false;
        break;
      case 'winLease':
        this.lock.available = true;
        break;
      case 'restart':
        await this.stopProcess();
        await this.startProcess();
        break;
      case 'calm':
        this.lock.available = true;
        for (let i = 0; i < 6; i++) {
          await this.catchUp();
          await this.tick(500);
        }
        await this.catchUp();
        break;
      case 'startUp':
        if (cmd.via === 'restart') {
          this.lock.available = true;
          await this.run({ kind: 'restart' });
        } else {
          this.lock.available = false;
          await this.tick(2_500); // the renewal finds the Lease taken
          this.lock.available = true;
          await this.tick(1_500); // the other holder's 1 s Lease expires: won back, list in flight
        }
        api.holdLists = true;
        for (const c of cmd.during) await this.run(c);
        api.holdLists = false;
        break;
    }
    await flush();
    this.checkDuplicates(`after ${JSON.stringify(cmd)}`);
  }

  private deliverOne(): boolean {
    if (!this.proc) return false;
    const a = this.proc.services.deliverOne();
    const b = this.proc.configMaps.deliverOne();
    return a || b;
  }

  /** Answers every answerable request (faults still apply) and delivers every event. */
  private async catchUp(): Promise<void> {
    for (let i = 0; i < 200; i++) {
      const answered = this.api.answer(0);
      const delivered = this.deliverOne();
      await flush();
      if (!answered && !delivered) return;
    }
  }

  /** Time passes in small steps (a renewal answered between them, as on a live server). */
  private async tick(ms: number): Promise<void> {
    for (let t = 0; t < ms; t += 100) {
      this.clock.advance(Math.min(100, ms - t));
      await flush();
    }
  }

  /**
   * The API server comes back to health and this replica leads: every request is answered, every
   * event delivered, time passes for the retries; then every invariant is checked.
   */
  async settle(): Promise<void> {
    this.api.clearFaults();
    this.lock.available = true;
    for (let round = 0; round < 40; round++) {
      while (this.api.inFlight.length > 0) {
        this.api.answer(0);
        await flush();
      }
      while (this.deliverOne()) await flush();
      await this.tick(round < 20 ? 500 : 5_000);
    }
    this.checkDuplicates('after settling');
    this.checkSettled();
  }

  private fail(kind: keyof Omit<Violations, 'first'>, what: string): void {
    this.violations[kind]++;
    this.violations.first ??= `${kind}: ${what}`;
  }

  private checkDuplicates(when: string): void {
    const holders = new Map<string, string>();
    for (const [key, svc] of this.api.services) {
      for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
        const other = ing.ip && holders.get(ing.ip);
        if (other) this.fail('duplicates', `${ing.ip} in the statuses of ${other} and ${key} ${when}`);
        if (ing.ip) holders.set(ing.ip, key);
      }
    }
  }

  private checkSettled(): void {
    const ctl = this.proc?.controller;
    const alloc = ctl?.allocator;
    if (!ctl || !alloc) return this.fail('inconsistent', 'not leading after settling');
    // Without a config in force (refused or invalid at this process's start) nothing is decided.
    if (!ctl.configLoaded) return;
    for (const name of NAMES) {
      const key = `${NS}/${name}`;
      const svc = this.api.services.get(key);
      const held = alloc.assignmentOf(key)?.ips ?? [];
      const lb = svc?.spec?.type === 'LoadBalancer';
      if (!lb && held.length > 0) this.fail('leaked', `${held.join(',')} still held for ${svc ? 'ClusterIP' : 'deleted'} ${key}`);
      const shown = (svc?.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '');
      if (lb && shown.join(',') !== held.join(',')) this.fail('inconsistent', `${key} shows [${shown.join(',')}], the leader holds [${held.join(',')}]`);
      for (const ip of shown) if (lb && alloc.poolOf(ip) === undefined) this.fail('outsideConfig', `${key} shows ${ip}, in no pool of the config in force`);
    }
  }

  private async stopProcess(): Promise<void> {
    await this.proc?.controller.stop();
    await this.proc?.services.stop();
    await this.proc?.started;
  }

  async stop(): Promise<void> {
    await this.stopProcess();
    this.proc = undefined;
  }
}

/** Lets promise chains and immediates run (every model answer is synchronous; the controller's reactions are not). */
async function flush(): Promise<void> {
  for (let i = 0; i < 4; i++) await new Promise<void>((r) => setImmediate(r));
}

/** Runs a whole sequence, then settles; returns the violations. */
export async function runChurn(commands: readonly Command[], opts: { leaderElect?: boolean } = {}): Promise<Violations> {
  const run = new ChurnRun(opts.leaderElect);
  try {
    await run.start();
    for (const cmd of commands) await run.run(cmd);
    await run.settle();
  } finally {
    await run.stop();
  }
  return run.violations;
}
