import { describe, expect, it } from 'vitest';
import { DirtyKeys } from '../../../speaker/dirty-keys.js';

/** Drains `q` batch by batch as the speaker does (one batch per turn), counting decisions per key. */
function drain(q: DirtyKeys, max: number, all: () => Iterable<string>, between?: (turn: number) => void): { turns: number; decided: Map<string, number>; largest: number } {
  const decided = new Map<string, number>();
  let turns = 0;
  let largest = 0;
  while (q.pending) {
    const batch = q.take(max, all);
    largest = Math.max(largest, batch.length);
    for (const key of batch) decided.set(key, (decided.get(key) ?? 0) + 1);
    turns++;
    between?.(turns);
  }
  return { turns, decided, largest };
}

describe('DirtyKeys', () => {
  const keys = (n: number): string[] => Array.from({ length: n }, (_, i) => `ns/svc-${i}`);

  it('hands out every key once, in batches of at most max (the event loop turns between batches)', () => {
    const q = new DirtyKeys();
    const all = keys(100_000);
    q.addAll();
    const { turns, decided, largest } = drain(q, 500, () => all);
    expect(largest).toBe(500);
    expect(turns).toBe(200);
    expect(decided.size).toBe(100_000);
    expect([...decided.values()].every((c) => c === 1)).toBe(true);
  });

  it('markAll repeated between batches costs one more pass at most, not one per call (no N x events)', () => {
    const q = new DirtyKeys();
    const all = keys(10_000);
    let expansions = 0;
    const allKeys = (): string[] => (expansions++, all);
    q.addAll();
    // A Lease event (membership, fencing) marking all on every turn of the first pass: what a slow
    // start under load sees. Each decision pass stays bounded by N per markAll that was not coalesced.
    const { decided } = drain(q, 500, allKeys, (turn) => {
      if (turn <= 5) for (let i = 0; i < 100; i++) q.addAll();
    });
    expect(expansions).toBe(6);
    const total = [...decided.values()].reduce((a, b) => a + b, 0);
    // The first pass, then each key once more per expansion that came before it was decided again.
    expect(total).toBeLessThanOrEqual(6 * 10_000);
    expect(total).toBeGreaterThanOrEqual(10_000);
  });

  it('a key marked while queued is decided once; one marked after it was taken is decided again', () => {
    const q = new DirtyKeys();
    q.add('a');
    q.add('b');
    q.add('a');
    expect(q.size).toBe(2);
    expect(q.take(1, () => [])).toEqual(['a']);
    q.add('a');
    expect(q.take(10, () => [])).toEqual(['b', 'a']);
    expect(q.pending).toBe(false);
  });

  it('marks one by one and all: the union, each once; clear() drops everything', () => {
    const q = new DirtyKeys();
    q.add('x');
    q.add('ns/svc-1');
    q.addAll();
    expect(q.take(100, () => keys(3)).sort()).toEqual(['ns/svc-0', 'ns/svc-1', 'ns/svc-2', 'x']);
    q.add('y');
    q.addAll();
    q.clear();
    expect(q.pending).toBe(false);
    expect(q.take(100, () => keys(3))).toEqual([]);
  });
});
