// Layer2 self-fencing. Other speakers drop this one from the live set leaseDuration after they last
// saw its Lease change; a speaker cut off from the API server must stop answering ARP/NDP by then,
// or two nodes would claim one VIP (kube-vip issue 996). So: fenced whenever the last successful
// renewal is leaseDuration old or older, and from start-up until the first successful renewal.
import type { Clock, TimerHandle } from '../protocols/clock.js';

export type FencingState =
  | { kind: 'fenced'; reason: 'notYetRenewed' | 'renewOverdue'; since: number }
  | { kind: 'active'; lastRenewSentAt: number };

/**
 * A renewal that kept the speaker active although it was read after the deadline of the one before
 * (an event loop blocked past it): the server may have written it after the others expired this
 * speaker's Lease, so they may have taken its layer2 Services meanwhile.
 */
export interface LateRenewal {
  sentAt: number;
  /** The deadline of the renewal before it. */
  deadline: number;
  /** When it was read. */
  readAt: number;
}

export interface FencingOptions {
  clock: Clock;
  /** Milliseconds after the last successful renewal's send time at which the speaker fences itself. */
  leaseDurationMs: number;
}

export class FencingError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FencingError';
  }
}

export class Fencing {
  private readonly clock: Clock;
  private readonly leaseDurationMs: number;
  private current: FencingState;
  private timer: TimerHandle | undefined;
  private failures = 0;
  private lastError: unknown;
  private readonly listeners: Array<(state: FencingState) => void> = [];
  private readonly lateListeners: Array<(late: LateRenewal) => void> = [];

  constructor(options: FencingOptions) {
    if (!Number.isFinite(options.leaseDurationMs) || options.leaseDurationMs <= 0) {
      throw new FencingError(`leaseDurationMs: must be a positive number, got ${options.leaseDurationMs}`);
    }
    this.clock = options.clock;
    this.leaseDurationMs = options.leaseDurationMs;
    this.current = { kind: 'fenced', reason: 'notYetRenewed', since: this.clock.now() };
  }

  /** Subscribe to fenced/active transitions; returns the unsubscribe function. */
  onChange(listener: (state: FencingState) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  /** Subscribe to renewals read after the previous one's deadline that kept the speaker active (no fenced/active transition). */
  onLate(listener: (late: LateRenewal) => void): void {
    this.lateListeners.push(listener);
  }

  /**
   * A renewal succeeded. Pass the monotonic time the renew request was *sent*: the write happened
   * after it, so others cannot have seen the change earlier, and fencing at sentAt + leaseDuration
   * is never later than their expiry of this speaker. A late success of an older request (sentAt
   * before the newest one recorded) changes nothing.
   */
  renewSucceeded(sentAt: number = this.clock.now()): void {
    if (this.current.kind === 'active' && sentAt <= this.current.lastRenewSentAt) return;
    const deadline = sentAt + this.leaseDurationMs;
    if (deadline <= this.clock.now()) return; // already overdue: it cannot unfence
    this.failures = 0;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = this.clock.setTimeout(() => this.overdue(), deadline - this.clock.now());
    const prev = this.current;
    this.current = { kind: 'active', lastRenewSentAt: sentAt };
    if (prev.kind === 'fenced') return this.emit();
    // Active but past its deadline (isFenced() said so): not fenced yet only because the timer waits
    // for this very answer (afterIo). Read after the deadline, it may have been written after it too.
    const before = prev.lastRenewSentAt + this.leaseDurationMs;
    const now = this.clock.now();
    if (now >= before) for (const listener of [...this.lateListeners]) listener({ sentAt, deadline: before, readAt: now });
  }

  /** A renewal failed. Fencing itself follows from time passing without a success, not from one failure. */
  renewFailed(error?: unknown): void {
    this.failures++;
    this.lastError = error;
  }

  /**
   * Fenced, or past the deadline already: on a loaded machine the timer can fire late, and an answer
   * sent meanwhile could come after the others expired this speaker (checked per ARP/NDP answer).
   */
  isFenced(): boolean {
    return this.current.kind === 'fenced' || this.clock.now() >= this.current.lastRenewSentAt + this.leaseDurationMs;
  }

  state(): FencingState {
    return this.current;
  }

  /** Renewal failures since the last success, and the last error seen. */
  failuresSinceSuccess(): { count: number; lastError: unknown } {
    return { count: this.failures, lastError: this.lastError };
  }

  close(): void {
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.listeners.length = 0;
    this.lateListeners.length = 0;
  }

  private overdue(): void {
    this.timer = undefined;
    if (this.current.kind !== 'active') return;
    // A renewal answered while the loop was blocked past the deadline is still in the socket: read
    // it first (afterIo). It extends the Lease from its own send time, so it may keep the speaker
    // active; isFenced() says fenced from the deadline on meanwhile (no answer goes out), but a
    // fence costs a new life and a withdrawal of everything, not worth it for an answer at hand.
    // The others may have expired this speaker before the server wrote it, though: onLate says so
    // (the speaker then claims nothing new until it has listed the holders and Leases again).
    const deadline = this.current.lastRenewSentAt + this.leaseDurationMs;
    const decide = (): void => {
      if (this.current.kind !== 'active' || this.current.lastRenewSentAt + this.leaseDurationMs !== deadline) return;
      // Fenced since the deadline (isFenced() said so from then on), however late the timer fired.
      this.current = { kind: 'fenced', reason: 'renewOverdue', since: deadline };
      this.emit();
    };
    if (this.clock.afterIo) this.clock.afterIo(decide);
    else decide();
  }

  private emit(): void {
    for (const listener of [...this.listeners]) listener(this.current);
  }
}
