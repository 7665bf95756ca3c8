// Held address -> Slot, per family. Keyed by the address's low 32 bits as a small integer rather than
// by its text: hashing a fresh string per allocation cost more than the rest of allocate() together.
// Addresses that share their low 32 bits (IPv6 only, in pools wider than 2^32) share a bucket.
import type { Family } from '../config/model.js';
import { familyOf, type Slot } from './records.js';

type Bucket = Slot | Slot[];

/** The low 32 bits of an address as a signed int32 (an unboxed integer for V8's Map). An IPv4 address
 * fits a double, so it skips the intermediate BigInt asIntN makes (this runs once or twice per allocation). */
function keyOf(family: Family, num: bigint): number {
  return family === 'ipv4' ? Number(num) | 0 : Number(BigInt.asIntN(32, num));
}

export class SlotIndex {
  private readonly maps: Record<Family, Map<number, Bucket>> = { ipv4: new Map(), ipv6: new Map() };
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(family: Family, num: bigint): Slot | undefined {
    const b = this.maps[family].get(keyOf(family, num));
    if (b === undefined) return undefined;
    if (!Array.isArray(b)) return b.num === num ? b : undefined;
    for (const s of b) if (s.num === num) return s;
    return undefined;
  }

  /** Adds a slot whose address is not held yet. */
  add(slot: Slot): void {
    const family = familyOf(slot);
    const map = this.maps[family];
    const key = keyOf(family, slot.num);
    // An IPv4 key is the whole address: no bucket to look up first.
    const b = family === 'ipv4' ? undefined : map.get(key);
    if (b === undefined) map.set(key, slot);
    else if (Array.isArray(b)) b.push(slot);
    else map.set(key, [b, slot]);
    this.count++;
  }

  /** Adds the slot of `family` for an address that was free space: nothing holds it, and (IPv4) no bucket can exist. */
  addFree(family: Family, slot: Slot): void {
    if (family !== 'ipv4') return this.add(slot);
    this.maps.ipv4.set(Number(slot.num) | 0, slot);
    this.count++;
  }

  /** Removes the slot holding `slot`'s address; false when none does. */
  delete(slot: Slot): boolean {
    const family = familyOf(slot);
    const map = this.maps[family];
    const key = keyOf(family, slot.num);
    const b = map.get(key);
    if (b === undefined) return false;
    if (!Array.isArray(b)) {
      if (b.num !== slot.num) return false;
      map.delete(key);
    } else {
      const i = b.findIndex((s) => s.num === slot.num);
      if (i < 0) return false;
      b.splice(i, 1);
      if (b.length === 1) map.set(key, b[0]);
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
