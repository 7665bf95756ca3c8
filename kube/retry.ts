// Retry one API call until it succeeds, with backoff, telling the caller about each failure (a
// daemon logs and counts it): a network or API error while starting must delay the daemon, never
// end it (issue 11: ENETUNREACH to the `kubernetes` Service IP from a hostNetwork speaker).
import { Backoff, type BackoffOptions } from './backoff.js';
import { sleep, systemClock, type Clock } from './clock.js';

export interface RetryOptions {
  /** Default 200 ms doubling to 30 s, as the informers. */
  backoff?: Partial<BackoffOptions>;
  clock?: Clock;
  /** Aborting ends the retries (rejects with the signal's reason). */
  signal?: AbortSignal;
  /** Called after each failure, before waiting `delayMs` (attempt counts from 1). */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
}

/** Resolves with fn()'s first success; only an abort ends it otherwise. */
export async function retrying<T>(fn: () => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const backoff = new Backoff({ initialMs: 200, maxMs: 30_000, ...opts.backoff });
  const clock = opts.clock ?? systemClock;
  for (;;) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    try {
      return await fn();
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason;
      const delay = backoff.next();
      opts.onRetry?.(err, backoff.attempts, delay);
      await sleep(clock, delay, opts.signal);
    }
  }
}
