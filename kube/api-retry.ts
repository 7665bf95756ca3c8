// The daemons' report of a retried API call: one warning per failed attempt (attempts are spaced
// by the backoff, so a long outage logs at most a line per 30 s) and a count in
// herald_k8s_api_errors_total{operation}.
import type { DaemonMetrics } from './daemon-metrics.js';
import type { Logger } from './log.js';
import type { RetryOptions } from './retry.js';

/** RetryOptions for a start-up API call named `what` (e.g. "discovering the Events API"). */
export function apiRetry(log: Logger, metrics: DaemonMetrics, what: string, signal: AbortSignal, operation = 'discovery'): RetryOptions {
  return {
    signal,
    onRetry: (err, attempt, delayMs) => {
      metrics.k8sApiErrors.inc({ operation });
      log.warn({ event: 'apiRetry', reason: `${what}: attempt ${attempt} failed, next in ${delayMs} ms`, err }, `${what} failed; retrying (API server unreachable or failing)`);
    },
  };
}
