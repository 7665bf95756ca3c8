// Runs a daemon until SIGTERM/SIGINT: start it, stop it once on the first signal, exit 0 when it
// has stopped (1 when stopping or starting failed). Shared by `herald controller` and `herald speaker`.
import type { Logger } from '../kube/log.js';
import { startMallocTrim } from './malloc-trim.js';

export interface Daemon {
  start(): Promise<void>;
  stop(): Promise<void>;
}

export async function runDaemon(daemon: Daemon, log: Logger, stoppingMessage: string): Promise<void> {
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ event: 'shutdown', reason: signal }, stoppingMessage);
    daemon.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ event: 'shutdown', err }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  // Freed malloc memory back to the system (the start frees megabytes glibc would keep); without the addon, said once.
  const trimming = startMallocTrim();
  if (trimming instanceof Error) log.info({ event: 'mallocTrimUnavailable', reason: trimming.message }, 'freed malloc memory is not given back to the system');
  try {
    await daemon.start();
  } catch (err) {
    log.fatal({ event: 'startFailed', err }, 'start failed');
    process.exit(1);
  }
}
