// Held address -> Slot, per family. Keyed by the address's low 32 bits as a small integer rather than
// by its text: hashing a fresh string per allocation cost more than the rest of allocate() together.
// Addresses that share their low 32 bits (IPv6 only, in pools wider than 2^32) share a bucket.
// While every IPv6 address held lies in one 2^32-aligned block, no two share a key, so an insertion
// needs no bucket lookup first (a Map miss per allocation, ~10 % of an IPv6 allocation's time).
import type { Family } from '../config/model.js';
import { familyOfAddr, lowKey, type Addr } from './address.js';
import type { Slot } from './records.js';

type Bucket = Slot | Slot[];

export class SlotIndex {
  private readonly maps: Record<Family, Map<number, Bucket>> = { ipv4: new Map(), ipv6: new Map() };
  private count = 0;
  private v6Count = 0;
  /** First and last address of the 2^32-aligned block of the first IPv6 address added since none was held. */
  private v6Block = 0n;
  private v6BlockLast = -1n;
  /** IPv6 addresses held outside that block: while 0, IPv6 keys are unique. */
  private v6Outside = 0;

  get size(): number {
    return this.count;
  }

  get(a: Addr): Slot | undefined {
    const b = this.maps[familyOfAddr(a)].get(lowKey(a));
    if (b === undefined) return undefined;
    if (!Array.isArray(b)) return b.num === a ? b : undefined;
    for (const s of b) if (s.num === a) return s;
    return undefined;
  }

  /** Adds a slot whose address is not held yet. */
  add(slot: Slot): void {
    const a = slot.num;
    const key = lowKey(a);
    // An IPv4 key is the whole address: no bucket to look up first.
    if (typeof a === 'number') {
      this.maps.ipv4.set(key, slot);
    } else {
      const map = this.maps.ipv6;
      if (this.v6Count === 0) {
        this.v6Block = a - BigInt.asUintN(32, a);
        this.v6BlockLast = this.v6Block + 0xffffffffn;
        this.v6Outside = 0;
      }
      const inBlock = a >= this.v6Block && a <= this.v6BlockLast;
      if (inBlock && this.v6Outside === 0) {
        map.set(key, slot);
      } else {
        if (!inBlock) this.v6Outside++;
        const b = map.get(key);
        if (b === undefined) map.set(key, slot);
        else if (Array.isArray(b)) b.push(slot);
        else map.set(key, [b, slot]);
      }
      this.v6Count++;
    }
    this.count++;
  }

  /** Removes the slot holding `slot`'s address; false when none does. */
  delete(slot: Slot): boolean {
    const a = slot.num;
    const map = this.maps[familyOfAddr(a)];
    const key = lowKey(a);
    const b = map.get(key);
    if (b === undefined) return false;
    if (!Array.isArray(b)) {
      if (b.num !== a) return false;
      map.delete(key);
    } else {
      const i = b.findIndex((s) => s.num === a);
      if (i < 0) return false;
      b.splice(i, 1);
      if (b.length === 1) map.set(key, b[0]);
    }
    if (typeof a !== 'number') {
      this.v6Count--;
      if (a < this.v6Block || a > this.v6BlockLast) this.v6Outside--;
    }
    this.count--;
    return true;
  }

  *values(): Generator<Slot> {
    for (const map of Object.values(this.maps)) {
      for (const b of map.values()) {
        if (Array.isArray(b)) yield* b;
        else yield b;
      }
    }
  }
}
