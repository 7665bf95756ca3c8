// Exponential backoff with jitter, shared by informer reconnects, work-queue retries and the paced writers.
import { retryAfterOf } from './request.js';

export interface BackoffOptions {
  /** First delay, ms. */
  initialMs: number;
  /** Ceiling, ms. */
  maxMs: number;
  /** Growth per attempt. Default 2. */
  factor?: number;
  /** Fraction of the delay randomized away (0..1), so many clients do not retry in lockstep. Default 0.2. */
  jitter?: number;
  /** Random source in [0, 1); injectable for tests. */
  random?: () => number;
}

/** Delay before retry number `attempt` (0-based). */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  const factor = opts.factor ?? 2;
  const jitter = opts.jitter ?? 0.2;
  const base = Math.min(opts.maxMs, opts.initialMs * Math.pow(factor, Math.min(attempt, 64)));
  const r = (opts.random ?? Math.random)();
  return Math.max(0, Math.round(base * (1 - jitter * r)));
}

/** `delayMs`, raised to the Retry-After of `err` if it is a 429: a throttled server is not asked again before it. */
export function atLeastRetryAfter(delayMs: number, err: unknown): number {
  return Math.max(retryAfterOf(err) ?? 0, delayMs);
}

/** Stateful backoff: next() grows the delay, reset() after a success. */
export class Backoff {
  private attempt = 0;
  constructor(private readonly opts: BackoffOptions) {}

  next(): number {
    return backoffDelay(this.attempt++, this.opts);
  }

  /** next(), but never before a throttled server's (429) Retry-After: the jitter only lowers the backoff. */
  nextAfter(err: unknown): number {
    return atLeastRetryAfter(this.next(), err);
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
