// Polling for the lab tests: the lab's daemons, router and client answer asynchronously, so a test
// asks again until the answer is there or a deadline passes.

/** What a probe answers: a value when the wait is over; null, undefined or false to ask again. */
export type Probe<T> = () => Promise<T | null | undefined | false>;

/**
 * Calls `probe` every `everyMs` until it answers something other than null, undefined or false, and
 * resolves with that (`true` for a boolean probe); rejects naming `what` after `timeoutMs`. A probe
 * that throws is asked again too: what it asks (a CLI, a control socket, the API server) may not be
 * answering yet, or only for a moment (a daemon restarting); the last error is in the timeout's message.
 */
export async function eventually<T>(what: string, probe: Probe<T>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastErr: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== null && v !== undefined && v !== false) return v;
    } catch (err) {
      lastErr = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${lastErr === undefined ? '' : ` (last error: ${lastErr instanceof Error ? lastErr.message : String(lastErr)})`}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
