import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Family } from '../../../config/model.js';
import type { Addr } from '../../../allocator/address.js';
import { formatAddr } from '../../../allocator/ip.js';
import type { ServiceRecord, Slot } from '../../../allocator/records.js';
import { SlotIndex } from '../../../allocator/slot-index.js';

const owner = { key: 'ns/a', first: undefined, second: undefined, extra: undefined } as unknown as ServiceRecord;
const slot = (num: Addr): Slot => ({ text: formatAddr(num), num, users: owner });

describe('SlotIndex', () => {
  it('matches a Map by (family, address): pages emptied and refilled, IPv6 blocks sharing their low 32 bits (property)', () => {
    // Few distinct low words and high parts, so buckets hold several addresses and IPv4 meets IPv6.
    const address = fc.record({
      family: fc.constantFrom<Family>('ipv4', 'ipv6'),
      high: fc.integer({ min: 0, max: 3 }),
      // Above the low word (neighbouring 2^32 blocks: the index's one-block shortcut) or far above it.
      shift: fc.constantFrom(32n, 100n),
      // Page edges (pages of 16 addresses), neighbours in one page, and the ends of a 2^32 block.
      low: fc.oneof(fc.constantFrom(0n, 1n, 0x7fffffffn, 0x80000000n, 0xffffffffn), fc.bigInt({ min: 0n, max: 40n })),
    });
    const op = fc.record({ kind: fc.constantFrom('add', 'delete', 'get'), address });
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const index = new SlotIndex();
        const model = new Map<string, Slot>();
        for (const { kind, address: a } of ops) {
          const num: Addr = a.family === 'ipv4' ? Number(a.low) : (BigInt(a.high) << a.shift) | a.low;
          const id = `${a.family}/${num}`;
          if (kind === 'add') {
            if (model.has(id)) continue; // add() is for addresses not held yet
            const s = slot(num);
            index.add(s);
            model.set(id, s);
          } else if (kind === 'delete') {
            expect(index.delete(slot(num))).toBe(model.delete(id));
          }
          expect(index.get(num)).toBe(model.get(id));
          expect(index.size).toBe(model.size);
        }
        expect(new Set(index.values())).toEqual(new Set(model.values()));
      }),
    );
  });

  it('holds a dense run across many pages and blocks, and forgets emptied ones', () => {
    const index = new SlotIndex();
    const base6 = 0x20010db8000000000000000000000000n;
    const nums: Addr[] = [];
    for (let i = 0; i < 1000; i++) nums.push(0xc6120000 + i, base6 + BigInt(i), base6 + (5n << 32n) + BigInt(i));
    const slots = nums.map(slot);
    for (const s of slots) index.add(s);
    expect(index.size).toBe(3000);
    nums.forEach((n, i) => expect(index.get(n)).toBe(slots[i]));
    expect(index.get(0xc6120000 + 1000)).toBeUndefined();
    expect(index.get(base6 + (1n << 32n))).toBeUndefined();
    for (const s of slots) expect(index.delete(s)).toBe(true);
    for (const s of slots) expect(index.delete(s)).toBe(false);
    expect(index.size).toBe(0);
    expect([...index.values()]).toEqual([]);
    nums.forEach((n) => expect(index.get(n)).toBeUndefined());
  });
});
