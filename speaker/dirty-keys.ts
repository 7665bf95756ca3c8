// The Services the speaker must decide again, handed out in bounded batches. Deciding every Service
// in one event-loop turn held the loop for seconds at 10,000s of Services (under load: 10,000 took
// longer than the 3 s Lease duration), so the speaker's own Lease renewal waited behind it, it fenced
// itself, every Service was marked again to be withdrawn, then again to be announced: at 100,000 it
// never finished announcing (README, Scale). Batches with a turn between them let the renewals run.
// A key marked twice before it is decided is decided once; "all" is expanded when the next batch is
// taken, so any number of markAll() calls between batches cost one pass, not one each.

export class DirtyKeys {
  private readonly keys = new Set<string>();
  private all = false;

  /** `key` must be decided again. */
  add(key: string): void {
    this.keys.add(key);
  }

  /** Every key must be decided again (allKeys() of the next take()). */
  addAll(): void {
    this.all = true;
  }

  clear(): void {
    this.all = false;
    this.keys.clear();
  }

  /** Whether a key waits to be decided. */
  get pending(): boolean {
    return this.all || this.keys.size > 0;
  }

  /** Keys waiting (with "all" not expanded yet: those marked one by one). */
  get size(): number {
    return this.keys.size;
  }

  /**
   * Up to `max` keys to decide now, each removed from the queue (marked again later: queued again).
   * With "all" marked, every key of `allKeys` joins the queue first.
   */
  take(max: number, allKeys: () => Iterable<string>): string[] {
    if (this.all) {
      this.all = false;
      for (const key of allKeys()) this.keys.add(key);
    }
    const out: string[] = [];
    for (const key of this.keys) {
      if (out.length >= max) break;
      out.push(key);
      this.keys.delete(key);
    }
    return out;
  }
}
