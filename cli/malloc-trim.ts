// Gives the daemon's freed malloc memory back to the system now and then (malloc_trim(0), our
// herald_malloc_trim addon): glibc keeps what the start's TLS, HTTP and JSON freed in its arenas, in
// RSS for good (~2.9 MB of the speaker's at 10,000 Services with the metallb.io CRDs installed).
// Without the addon (not built, not glibc) nothing is trimmed: only memory is at stake.
import { loadAddon } from '../protocols/native-addon.js';

interface MallocTrimAddon {
  /** malloc_trim(0): whether memory was given back. */
  trim(): boolean;
}

/** Trimmed this often: a walk of glibc's free chunks (well under a millisecond at these sizes). */
export const MALLOC_TRIM_INTERVAL_MS = 10_000;

/** The addon's trim, or an Error saying why it is not available (never throws). */
export function loadMallocTrim(): (() => boolean) | Error {
  const addon = loadAddon<MallocTrimAddon>('herald_malloc_trim.node', 'malloc trim');
  return addon instanceof Error ? addon : () => addon.trim();
}

/** Trims every `intervalMs` (a timer that keeps no process alive); the returned function stops it. Without the addon: the Error. */
export function startMallocTrim(intervalMs = MALLOC_TRIM_INTERVAL_MS): (() => void) | Error {
  const trim = loadMallocTrim();
  if (trim instanceof Error) return trim;
  const timer = setInterval(trim, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
