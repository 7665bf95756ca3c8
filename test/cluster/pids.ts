// Processes the tests started, by pid. A process may exit at any moment, so signalling one that is
// already gone is not an error.

/** True while `pid` exists (signal 0 sends nothing). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Sends `sig` to `pid`; nothing when the process is already gone. */
export function signalPid(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}
