// Writes one daemon's ConfigurationState object (metallb.io/v1beta1, in the daemon's namespace:
// `controller`, or `speaker-<node>`, with MetalLB's labels metallb.io/component-type and
// metallb.io/node-name): the state allocator/config-state.ts derives from the daemon's config verdict.
// Cost: the object is read once per process, then written only when the state changes (a restart that
// reaches the same verdict writes nothing), at most one write in flight and one per `minIntervalMs`;
// states reported meanwhile coalesce (the newest wins). API errors are retried with back-off, never fatal.
import type { KubeAccess } from './access.js';
import type { Clock } from './clock.js';
import { PacedWriter, type PassResult } from './paced-writer.js';
import { errorStatus, kubeRequest } from './request.js';

/** What the object says (allocator/config-state.ts derives it from a verdict; structural here). */
export interface ConfigState {
  result: 'Valid' | 'Invalid' | 'Unknown';
  /** The `Loaded` condition's reason. */
  reason: string;
  message: string;
  /** The config in force ('' when none). */
  configHash: string;
}

/** The condition type: True when the objects as they are now are the config in force. */
export const LOADED_CONDITION = 'Loaded';

export function sameState(a: ConfigState | undefined, b: ConfigState | undefined): boolean {
  return a !== undefined && b !== undefined && a.result === b.result && a.reason === b.reason && a.message === b.message && a.configHash === b.configHash;
}

export const COMPONENT_LABEL = 'metallb.io/component-type';
export const NODE_NAME_LABEL = 'metallb.io/node-name';

interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
}

interface StateStatus {
  result?: string;
  lastError?: string;
  configHash?: string;
  conditions?: Condition[];
}

interface StateObject {
  metadata?: { resourceVersion?: string };
  status?: StateStatus;
}

export interface ConfigurationStateWriterOptions {
  kubeConfig: KubeAccess;
  namespace: string;
  /** `controller` or `speaker-<node>` (MetalLB's names). */
  name: string;
  component: 'controller' | 'speaker';
  node?: string;
  clock: Clock;
  /** Least time between two writes (default 1 s). */
  minIntervalMs?: number;
  onError: (err: unknown) => void;
  /** The stored object says `state` now; `wrote`: it took a write (false: it said so already, e.g. after a restart). */
  onSynced?: (state: ConfigState, wrote: boolean) => void;
  /** The ConfigurationState kind is not served (CRDs not installed, or MetalLB's older ones): said once per process. */
  onUnavailable?: () => void;
}

/** The state as it would be stored, without lastTransitionTime (kept when the condition's status stays). */
function stored(s: StateStatus | undefined): ConfigState | undefined {
  const c = s?.conditions?.find((x) => x.type === LOADED_CONDITION);
  if (!s || !c) return undefined;
  return { result: s.result as ConfigState['result'], reason: c.reason, message: c.message, configHash: s.configHash ?? '' };
}

export class ConfigurationStateWriter {
  private desired: ConfigState | undefined;
  /** The object as last read or written: undefined until read (and after a conflict or an error). */
  private known: StateObject | undefined;
  private unavailableSaid = false;
  private readonly pacer: PacedWriter;
  /** Writes sent (create and status update). */
  writes = 0;

  constructor(private readonly opts: ConfigurationStateWriterOptions) {
    this.pacer = new PacedWriter({ clock: opts.clock, minIntervalMs: opts.minIntervalMs, pass: () => this.run() });
  }

  private get path(): string {
    return `/apis/metallb.io/v1beta1/namespaces/${encodeURIComponent(this.opts.namespace)}/configurationstates`;
  }

  /** The state now; written if it differs from the stored one. */
  report(state: ConfigState): void {
    if (this.pacer.isClosed || sameState(this.desired, state)) return;
    this.desired = state;
    this.pacer.kick();
  }

  close(): void {
    this.pacer.close();
  }

  private async run(): Promise<PassResult> {
    const want = this.desired;
    try {
      if (want) await this.sync(want);
    } catch (err) {
      this.known = undefined;
      if (errorStatus(err) === 404) {
        if (!this.unavailableSaid) this.opts.onUnavailable?.();
        this.unavailableSaid = true;
        return { kind: 'failed', error: err, retryMs: 60_000 };
      }
      this.opts.onError(err);
      return { kind: 'failed', error: err };
    }
    return { kind: 'done', again: !sameState(want, this.desired) };
  }

  private async sync(want: ConfigState): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      if (!this.known) this.known = await this.readOrCreate();
      const current = this.known.status;
      if (sameState(stored(current), want)) {
        this.opts.onSynced?.(want, false);
        return;
      }
      const prev = current?.conditions?.find((c) => c.type === LOADED_CONDITION);
      const status = want.result === 'Valid' ? 'True' : want.reason === 'ConfigMissing' ? 'Unknown' : 'False';
      const condition: Condition = {
        type: LOADED_CONDITION,
        status,
        reason: want.reason,
        message: want.message,
        // Kubernetes' convention: when the condition's status last changed.
        lastTransitionTime: prev?.status === status ? prev.lastTransitionTime : new Date(this.opts.clock.now()).toISOString().replace(/\.\d+Z$/, 'Z'),
      };
      const body = {
        apiVersion: 'metallb.io/v1beta1',
        kind: 'ConfigurationState',
        metadata: { name: this.opts.name, namespace: this.opts.namespace, resourceVersion: this.known.metadata?.resourceVersion },
        // Empty strings are left out (MetalLB's omitempty; the test cluster's API server reads "" as null).
        status: { result: want.result, ...(want.result === 'Valid' ? {} : { lastError: want.message }), ...(want.configHash ? { configHash: want.configHash } : {}), conditions: [condition] },
      };
      try {
        this.writes++;
        this.pacer.wrote();
        this.known = (await kubeRequest(this.opts.kubeConfig, 'PUT', `${this.path}/${encodeURIComponent(this.opts.name)}/status`, { body })) as StateObject;
        this.opts.onSynced?.(want, true);
        return;
      } catch (err) {
        const code = errorStatus(err);
        if (code !== 409 && code !== 404) throw err;
        this.known = undefined; // changed or deleted meanwhile: read (or create) again
      }
    }
    throw new Error(`configurationstates ${this.opts.namespace}/${this.opts.name}: still conflicting after 5 attempts`);
  }

  private async readOrCreate(): Promise<StateObject> {
    try {
      return (await kubeRequest(this.opts.kubeConfig, 'GET', `${this.path}/${encodeURIComponent(this.opts.name)}`)) as StateObject;
    } catch (err) {
      if (errorStatus(err) !== 404) throw err;
    }
    const labels: Record<string, string> = { [COMPONENT_LABEL]: this.opts.component, ...(this.opts.node ? { [NODE_NAME_LABEL]: this.opts.node } : {}) };
    this.writes++;
    this.pacer.wrote();
    try {
      return (await kubeRequest(this.opts.kubeConfig, 'POST', this.path, {
        body: { apiVersion: 'metallb.io/v1beta1', kind: 'ConfigurationState', metadata: { name: this.opts.name, namespace: this.opts.namespace, labels } },
      })) as StateObject;
    } catch (err) {
      if (errorStatus(err) !== 409) throw err;
      return (await kubeRequest(this.opts.kubeConfig, 'GET', `${this.path}/${encodeURIComponent(this.opts.name)}`)) as StateObject;
    }
  }
}
