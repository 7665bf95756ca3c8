// The clock the speaker's timers use. protocols/clock.ts (Clock, systemClock, ManualClock) is being
// written in parallel and had not landed when this was written, so this is a structurally identical
// interface: protocols' systemClock and ManualClock satisfy it without adapters.

/** Opaque handle returned by Clock.setTimeout. */
export type TimerHandle = object;

export interface Clock {
  /** Monotonic milliseconds (not wall time): never compared across nodes. */
  now(): number;
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle): void;
}
