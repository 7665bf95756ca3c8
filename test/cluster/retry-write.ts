// Benchmarks write thousands of objects to an API server they overload on purpose: a write that
// timed out or failed with 5xx (or in transport) is retried with a growing pause.

/** Runs `fn` until it succeeds; 409 Conflict/AlreadyExists counts as done; other 4xx, or 8 failures, throw naming `what`. */
export async function retryWrite(what: string, fn: () => Promise<unknown>): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await fn();
      return;
    } catch (err) {
      const e = err as { code?: number; status?: number };
      const status = e.status ?? e.code ?? 0;
      if (status === 409) return;
      if ((status !== 0 && status < 500) || attempt >= 8) throw new Error(`${what}: ${String(err)}`);
      await new Promise((r) => setTimeout(r, 500 * attempt));
    }
  }
}
