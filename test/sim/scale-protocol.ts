// Messages between the scale simulator (test/bench/scale.bench.ts) and its worker processes
// (test/sim/scale-worker.ts), over the fork() IPC channel. Times are wall-clock milliseconds with
// sub-millisecond precision (performance.timeOrigin + performance.now()), comparable across the
// processes of one machine.

export interface SimTiming {
  renewMs: number;
  leaseDurationMs: number;
  /** Renewal interval without the liveness quorum (speaker.ts: LIVENESS_FAST_RENEW_MS). */
  fastRenewMs: number;
  periodMs: number;
  probeTimeoutMs: number;
  suspicionMs: number;
}

export type ToWorker =
  | { type: 'init'; names: string[]; kubeconfig: string; namespace: string; secretHex: string; timing: SimTiming; udp: boolean }
  | { type: 'peers'; ports: Record<string, number> }
  | { type: 'sample' }
  | { type: 'kill'; name: string }
  | { type: 'explain' }
  | { type: 'stop' };

/** Cumulative counters of one worker (the simulator takes differences between two samples). */
export interface WorkerSample {
  /** Lease writes sent (SpeakerLease.writes, summed). */
  leaseWrites: number;
  /** Liveness bytes sent + received on every member's socket. */
  livenessBytes: number;
  livenessPackets: number;
  /** Datagrams dropped by a transport (bad MAC, undecodable, too long, no address). */
  dropped: number;
  /** Suspicions and deaths of members that were never killed, as seen by any member (false verdicts). */
  falseSuspicions: number;
  falseDeaths: number;
  /** Stalls the members' liveness detected (swim.ts: not run for over stallMs; each then asks a bounded set of members). */
  stalls: number;
  /** Pings sent by the stall checks and rechecks (swim.ts counts.stallAsks). */
  stallAsks: number;
  /** A member learned it was suspected or declared dead (it refutes / starts a new life). */
  selfSuspected: number;
  /** Quorum lost (a member stops answering until a renewal vouches for it), and members fenced now. */
  quorumLosses: number;
  fencedNow: number;
  /** Lease watch events showing a new life (a member declared dead started one), seen by the worker's watch. */
  rejoins: number;
  leaseFailures: number;
  /** Lease renewal failures by cause: HTTP status ("429", "500"), or the errno (ETIMEDOUT, ECONNRESET). */
  leaseFailuresBy: Record<string, number>;
  /** Renewals that turned unhealthy (slow or failed: Events and status writes pause), summed. */
  unhealthy: number;
  /** Self-fencing by the Lease (fencing.ts: no successful renewal for the lease duration), not by the liveness gate. */
  leaseFenced: { episodes: number; members: number; totalMs: number; maxMs: number; now: number };
  /** Per killed member: how many members declared it dead, and the first and last such time. */
  verdicts: Record<string, { count: number; first: number; last: number }>;
  /** Per killed member: how many live members hold it dead now. */
  deadViews: Record<string, number>;
  /** Event-loop delay since the previous sample (ms): p50, p99, max. */
  lag: { p50: number; p99: number; max: number };
  /** CPU seconds (user + system) of the worker process so far. */
  cpuSeconds: number;
}

export type FromWorker =
  | { type: 'ports'; ports: Record<string, number> }
  | { type: 'started' }
  | { type: 'sample'; sample: WorkerSample }
  | { type: 'killed'; name: string; at: number }
  | { type: 'explain'; explain: WorkerExplain }
  | { type: 'stopped' };

/** A false suspicion as it happened: `by` suspected `of` (never killed) at wall time `at`. */
export interface FalseSuspicion {
  at: number;
  by: string;
  of: string;
}

/** What a worker saw, to explain false suspicions: each (the first 1,000) and its event-loop lag per wall second. */
export interface WorkerExplain {
  suspicions: FalseSuspicion[];
  /** [wall second, the largest timer lateness in it (ms)], the last 20 minutes. */
  lagBySecond: Array<[number, number]>;
}

export function wallNow(): number {
  return performance.timeOrigin + performance.now();
}
