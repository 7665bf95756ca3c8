// Held address -> Slot. Addresses are split into 2^32-aligned blocks (all of IPv4 is one) and, inside a
// block, into pages of PAGE consecutive addresses: a page is a small array indexed by the address's low
// bits. Allocations walk a pool in order, so consecutive addresses fill one page and a lookup is a
// compare against the last page used plus an array index: no hashing per address, no big hash table to
// grow and rehash, about 9 bytes per held address where a Map entry took ~50 (a one-Map-per-family index
// cost ~12 % of an allocation plus the GC of its growing tables). An address held alone in its page
// costs the whole page (PAGE slots), hence small pages. Page and block tables are Maps keyed by number
// (page) and bigint (IPv6 block): touched once per page, not once per address.
import type { Addr } from './address.js';
import type { Slot } from './records.js';

const PAGE_BITS = 4;
const PAGE = 1 << PAGE_BITS;
const IN_PAGE = PAGE - 1;

type Page = (Slot | undefined)[];

/** The pages of one 2^32-aligned block, keyed by (low 32 bits) >>> PAGE_BITS, with the last one used cached. */
class Block {
  private readonly pages = new Map<number, Page>();
  private lastKey = -1;
  private last: Page | undefined;

  private page(key: number): Page | undefined {
    if (key === this.lastKey) return this.last;
    const page = this.pages.get(key);
    if (page) {
      this.lastKey = key;
      this.last = page;
    }
    return page;
  }

  get(low: number): Slot | undefined {
    return this.page(low >>> PAGE_BITS)?.[low & IN_PAGE];
  }

  /** Sets the slot of `low`, which holds none. */
  add(low: number, slot: Slot): void {
    const key = low >>> PAGE_BITS;
    let page = this.page(key);
    if (!page) {
      page = new Array<Slot | undefined>(PAGE);
      this.pages.set(key, page);
      this.lastKey = key;
      this.last = page;
    }
    page[low & IN_PAGE] = slot;
  }

  /** Clears `low`; false when it held no slot. */
  delete(low: number): boolean {
    const key = low >>> PAGE_BITS;
    const page = this.page(key);
    if (!page || page[low & IN_PAGE] === undefined) return false;
    page[low & IN_PAGE] = undefined;
    for (let i = 0; i < PAGE; i++) if (page[i] !== undefined) return true;
    this.pages.delete(key);
    if (this.lastKey === key) {
      this.lastKey = -1;
      this.last = undefined;
    }
    return true;
  }

  get empty(): boolean {
    return this.pages.size === 0;
  }

  *values(): Generator<Slot> {
    for (const page of this.pages.values()) for (const s of page) if (s !== undefined) yield s;
  }
}

export class SlotIndex {
  private readonly v4 = new Block();
  /** IPv6 blocks by their first address >> 32 (V8 hashes a bigint key by its low 64 bits: bits 32-95 here). */
  private readonly v6 = new Map<bigint, Block>();
  /** The IPv6 block used last and its address range (allocations stay in one block for 2^32 addresses). */
  private v6Last: Block | undefined;
  private v6LastFirst = 0n;
  private v6LastEnd = -1n;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The IPv6 block of `a` (created when `create`). */
  private v6Block(a: bigint, create: boolean): Block | undefined {
    if (a >= this.v6LastFirst && a <= this.v6LastEnd) return this.v6Last;
    const id = a >> 32n;
    let block = this.v6.get(id);
    if (!block) {
      if (!create) return undefined;
      block = new Block();
      this.v6.set(id, block);
    }
    this.v6Last = block;
    this.v6LastFirst = id << 32n;
    this.v6LastEnd = this.v6LastFirst + 0xffffffffn;
    return block;
  }

  get(a: Addr): Slot | undefined {
    if (typeof a === 'number') return this.v4.get(a);
    return this.v6Block(a, false)?.get(Number(BigInt.asUintN(32, a)));
  }

  /** Adds a slot whose address is not held yet. */
  add(slot: Slot): void {
    const a = slot.num;
    if (typeof a === 'number') this.v4.add(a, slot);
    else (this.v6Block(a, true) as Block).add(Number(BigInt.asUintN(32, a)), slot);
    this.count++;
  }

  /** Removes the slot holding `slot`'s address; false when none does. */
  delete(slot: Slot): boolean {
    const a = slot.num;
    let removed: boolean;
    if (typeof a === 'number') removed = this.v4.delete(a);
    else {
      const block = this.v6Block(a, false);
      removed = block !== undefined && block.delete(Number(BigInt.asUintN(32, a)));
      if (removed && (block as Block).empty) {
        this.v6.delete(a >> 32n);
        this.v6Last = undefined;
        this.v6LastFirst = 0n;
        this.v6LastEnd = -1n;
      }
    }
    if (removed) this.count--;
    return removed;
  }

  *values(): Generator<Slot> {
    yield* this.v4.values();
    for (const block of this.v6.values()) yield* block.values();
  }
}
