// Paces the speaker's Service Events so that they never cost availability. A restarted speaker
// becomes the layer2 owner of thousands of Services at once and writes one nodeAssigned Event each;
// unpaced, that opened thousands of API connections, and even at 100/s on a loaded 2-core node the
// Event POSTs slowed every speaker's Lease renewals until speakers fenced themselves (silencing their
// VIPs for an informational message). So:
// - a token bucket: `ratePerSecond` in the long run, at most `burst` at once;
// - paused while the speaker's own Lease renewal is unhealthy (SpeakerLease's health signal): the
//   Lease always goes first, Events resume once renewals are fast again;
// - nothing is dropped: the queue holds at most one pending Event per key (Service and reason); a
//   newer Event for the same key replaces the pending one in its place in line (the newest state
//   wins), so the queue is bounded by the number of Services.
// - pending items are data handed to one `send` function, not a closure each: after a restart the
//   queue holds one per owned Service for N/20 s, and a closure with its context cost ~300 bytes more
//   per pending Event (heap snapshot at 10,000 Services).
// - the line is a ring of items plus an open-addressing index of ring slots (Int32Array), not a
//   Map: a Map of 10,000 pending keys holds 16,384 slots of 3.5 words (448 kB); the ring and index
//   take 12 bytes a slot, and with `keyOf` (the item knows its key) no key is stored per item.
import type { Clock, TimerHandle } from '../protocols/clock.js';

export interface EventPacerOptions<T> {
  clock: Clock;
  /** Hands one pending item on (one recorder call, one API write). */
  send: (item: T) => void;
  /**
   * Events handed on per second in the long run. Default 20: a restart with N owned Services still
   * writes all N Events, N/20 s later at most (3,334 Services: under 3 minutes), at a fifth of the
   * cost to the API server of the former 100/s.
   */
  ratePerSecond?: number;
  /** Events that may go at once after a quiet spell. Default 10 (client-go's default burst). */
  burst?: number;
  /** Start paused (until the first healthy Lease renewal). Default false. */
  paused?: boolean;
  /** The key an item was pushed under, when the item knows it: then no key is stored per pending item. */
  keyOf?: (item: T) => string;
}

/** Slots of the smallest ring (a power of two: slots are masked). */
const MIN_SLOTS = 16;

/** FNV-1a over the UTF-16 code units, low bits mixed (slots are masked). */
function hashOf(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193);
  return (h ^ (h >>> 15)) >>> 0;
}

export class EventPacerError extends Error {
  override readonly name = 'EventPacerError';
}

export class EventPacer<T> {
  /** Pending items in line order: a ring from `head`, `count` long, `mask + 1` slots. */
  private items: (T | undefined)[] = [];
  /** The key of each pending item, when the items do not know it (no `keyOf`). */
  private keys: (string | undefined)[] | undefined;
  /** Open addressing (linear probing) from each pending key's hash to its ring slot + 1 (0: empty); as many slots as the ring, at most 3/4 full. */
  private index = new Int32Array(0);
  private mask = 0;
  private head = 0;
  private count = 0;
  private timer: TimerHandle | undefined;
  private readonly rate: number;
  private readonly burst: number;
  private tokens: number;
  private refilledAt: number;
  private paused: boolean;
  private closed = false;
  /** Events handed on so far. */
  sent = 0;
  /** Pending Events replaced by a newer one for the same key. */
  coalesced = 0;

  constructor(private readonly opts: EventPacerOptions<T>) {
    this.rate = opts.ratePerSecond ?? 20;
    this.burst = opts.burst ?? 10;
    if (!(this.rate > 0) || !Number.isFinite(this.rate)) throw new EventPacerError(`ratePerSecond: must be a positive number, got ${this.rate}`);
    if (!(this.burst >= 1) || !Number.isFinite(this.burst)) throw new EventPacerError(`burst: must be at least 1, got ${this.burst}`);
    this.tokens = this.burst;
    this.refilledAt = opts.clock.now();
    this.paused = opts.paused ?? false;
    this.resize(MIN_SLOTS);
  }

  get queued(): number {
    return this.count;
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Queue `item` under `key`, replacing a pending one of the same key. */
  push(key: string, item: T): void {
    if (this.closed) return;
    const pending = this.slotOf(key);
    if (pending >= 0) {
      // In its place in line: the newest state wins.
      this.coalesced++;
      this.items[pending] = item;
    } else {
      if (this.count + 1 > ((this.mask + 1) * 3) / 4) this.resize((this.mask + 1) * 2);
      const slot = (this.head + this.count) & this.mask;
      this.items[slot] = item;
      if (this.keys) this.keys[slot] = key;
      this.count++;
      this.insert(key, slot);
    }
    this.drain();
  }

  /** Hold Events back (true) or let them go again (false). */
  setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    if (paused) this.cancelTimer();
    else this.drain();
  }

  close(): void {
    this.closed = true;
    this.cancelTimer();
    this.count = 0;
    this.resize(MIN_SLOTS);
  }

  private keyAt(slot: number): string {
    return this.keys ? (this.keys[slot] as string) : (this.opts.keyOf as (item: T) => string)(this.items[slot] as T);
  }

  /** The ring slot of `key`'s pending item, or -1. */
  private slotOf(key: string): number {
    for (let i = hashOf(key) & this.mask; this.index[i] !== 0; i = (i + 1) & this.mask) {
      const slot = (this.index[i] as number) - 1;
      if (this.keyAt(slot) === key) return slot;
    }
    return -1;
  }

  private insert(key: string, slot: number): void {
    let i = hashOf(key) & this.mask;
    while (this.index[i] !== 0) i = (i + 1) & this.mask;
    this.index[i] = slot + 1;
  }

  /** Takes the first in line out (ring and index). */
  private shift(): T {
    const slot = this.head;
    let hole = hashOf(this.keyAt(slot)) & this.mask;
    while (this.index[hole] !== slot + 1) hole = (hole + 1) & this.mask;
    // Backward-shift deletion: an entry further on moves into the hole unless its home lies cyclically in (hole, j].
    for (let j = (hole + 1) & this.mask; this.index[j] !== 0; j = (j + 1) & this.mask) {
      const v = this.index[j] as number;
      const home = hashOf(this.keyAt(v - 1)) & this.mask;
      const stays = hole < j ? home > hole && home <= j : home > hole || home <= j;
      if (stays) continue;
      this.index[hole] = v;
      hole = j;
    }
    this.index[hole] = 0;
    const item = this.items[slot] as T;
    this.items[slot] = undefined;
    if (this.keys) this.keys[slot] = undefined;
    this.head = (slot + 1) & this.mask;
    this.count--;
    // Give the room back once the line is short again (a Map shrinks too).
    if (this.mask + 1 > MIN_SLOTS && this.count < (this.mask + 1) / 8) this.resize((this.mask + 1) / 2);
    return item;
  }

  /** A ring of `slots` (a power of two) holding the pending items in line order from slot 0, and its index. */
  private resize(slots: number): void {
    const items = new Array<T | undefined>(slots).fill(undefined);
    const keys = this.opts.keyOf ? undefined : new Array<string | undefined>(slots).fill(undefined);
    for (let n = 0; n < this.count; n++) {
      const from = (this.head + n) & this.mask;
      items[n] = this.items[from];
      if (keys) keys[n] = this.keys?.[from];
    }
    this.items = items;
    this.keys = keys;
    this.index = new Int32Array(slots);
    this.mask = slots - 1;
    this.head = 0;
    for (let n = 0; n < this.count; n++) this.insert(this.keyAt(n), n);
  }

  private cancelTimer(): void {
    if (this.timer) this.opts.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private refill(): void {
    const now = this.opts.clock.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
    this.refilledAt = now;
  }

  private drain(): void {
    if (this.paused || this.timer || this.closed) return;
    this.refill();
    while (this.tokens >= 1 && this.count > 0 && !this.paused) {
      const item = this.shift();
      this.tokens -= 1;
      this.sent++;
      this.opts.send(item);
    }
    if (this.count === 0 || this.paused || this.closed) return;
    // Wake when the next token is due.
    this.timer = this.opts.clock.setTimeout(
      () => {
        this.timer = undefined;
        this.drain();
      },
      Math.ceil(((1 - this.tokens) * 1000) / this.rate),
    );
  }
}
