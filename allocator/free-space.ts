// The free addresses of one pool and family, as an ordered set of disjoint intervals in an AVL tree.
// A fresh pool is one interval per range, however large, so memory grows with the fragmentation that
// allocations and releases cause (at most one interval more per held address), never with pool size;
// every operation is O(log n) in the number of intervals. Addresses are Addr (address.ts): one tree
// holds one family, so its comparisons never mix a number and a bigint.
import { nextAddr, prevAddr, type Addr } from './address.js';

interface Node {
  start: Addr;
  end: Addr;
  left: Node | null;
  right: Node | null;
  height: number;
}

const height = (n: Node | null): number => (n ? n.height : 0);

function fix(n: Node): void {
  n.height = Math.max(height(n.left), height(n.right)) + 1;
}

function rotateRight(n: Node): Node {
  const l = n.left as Node;
  n.left = l.right;
  l.right = n;
  fix(n);
  fix(l);
  return l;
}

function rotateLeft(n: Node): Node {
  const r = n.right as Node;
  n.right = r.left;
  r.left = n;
  fix(n);
  fix(r);
  return r;
}

function balance(n: Node): Node {
  fix(n);
  const b = height(n.left) - height(n.right);
  if (b > 1) {
    if (height((n.left as Node).left) < height((n.left as Node).right)) n.left = rotateLeft(n.left as Node);
    return rotateRight(n);
  }
  if (b < -1) {
    if (height((n.right as Node).right) < height((n.right as Node).left)) n.right = rotateRight(n.right as Node);
    return rotateLeft(n);
  }
  return n;
}

function insert(n: Node | null, start: Addr, end: Addr): Node {
  if (!n) return { start, end, left: null, right: null, height: 1 };
  if (start < n.start) n.left = insert(n.left, start, end);
  else n.right = insert(n.right, start, end);
  return balance(n);
}

function removeMin(n: Node): Node | null {
  if (!n.left) return n.right;
  n.left = removeMin(n.left);
  return balance(n);
}

function remove(n: Node | null, start: Addr): Node | null {
  if (!n) return null;
  if (start < n.start) n.left = remove(n.left, start);
  else if (start > n.start) n.right = remove(n.right, start);
  else {
    if (!n.left) return n.right;
    if (!n.right) return n.left;
    let m = n.right;
    while (m.left) m = m.left;
    m.right = removeMin(n.right);
    m.left = n.left;
    return balance(m);
  }
  return balance(n);
}

export interface Interval {
  start: Addr;
  end: Addr;
}

export class FreeSpace {
  private root: Node | null = null;
  private nodes = 0;

  /** `intervals` must be disjoint and non-adjacent (the pool builder merges them). */
  constructor(intervals: Iterable<Interval> = []) {
    for (const i of intervals) this.add(i.start, i.end);
  }

  /** Number of intervals held (for tests and memory accounting). */
  get intervalCount(): number {
    return this.nodes;
  }

  /** The lowest free interval. */
  first(): Interval | undefined {
    let n = this.root;
    if (!n) return undefined;
    while (n.left) n = n.left;
    return n;
  }

  /** Drops a whole interval (by its start), e.g. one left with only unusable addresses. */
  dropInterval(start: Addr): void {
    this.root = remove(this.root, start);
    this.nodes--;
  }

  /** The interval with the greatest start <= x. */
  private floor(x: Addr): Node | undefined {
    let n = this.root;
    let best: Node | undefined;
    while (n) {
      if (n.start <= x) {
        best = n;
        n = n.right;
      } else n = n.left;
    }
    return best;
  }

  /** The interval with the smallest start > x. */
  private above(x: Addr): Node | undefined {
    let n = this.root;
    let best: Node | undefined;
    while (n) {
      if (n.start > x) {
        best = n;
        n = n.left;
      } else n = n.right;
    }
    return best;
  }

  has(x: Addr): boolean {
    const n = this.floor(x);
    return n !== undefined && n.end >= x;
  }

  /** Marks x as used; false when it was not free. */
  take(x: Addr): boolean {
    const n = this.floor(x);
    if (!n || n.end < x) return false;
    if (n.start === n.end) {
      this.dropInterval(n.start);
    } else if (x === n.start) {
      // Raising the key in place keeps the order: nothing lies between this interval and the next.
      n.start = nextAddr(x);
    } else if (x === n.end) {
      n.end = prevAddr(x);
    } else {
      const end = n.end;
      n.end = prevAddr(x);
      this.add(nextAddr(x), end);
    }
    return true;
  }

  /** Returns x to the free set, merging with its neighbours; false when it was already free. */
  release(x: Addr): boolean {
    const before = this.floor(x);
    if (before && before.end >= x) return false;
    const after = this.above(x);
    const joinsBefore = before !== undefined && before.end === prevAddr(x);
    const joinsAfter = after !== undefined && after.start === nextAddr(x);
    if (joinsBefore && joinsAfter) {
      const end = after.end;
      this.dropInterval(after.start);
      before.end = end;
    } else if (joinsBefore) {
      before.end = x;
    } else if (joinsAfter) {
      after.start = x;
    } else {
      this.add(x, x);
    }
    return true;
  }

  private add(start: Addr, end: Addr): void {
    this.root = insert(this.root, start, end);
    this.nodes++;
  }

  /** In order, for tests. */
  *intervals(): Generator<Interval> {
    const stack: Node[] = [];
    let n = this.root;
    while (n || stack.length) {
      while (n) {
        stack.push(n);
        n = n.left;
      }
      const top = stack.pop() as Node;
      yield { start: top.start, end: top.end };
      n = top.right;
    }
  }
}
