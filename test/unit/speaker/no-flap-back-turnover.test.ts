// Issue 13.3 after a full turnover: every speaker restarted after the Services were created, so the
// seniority tiers are empty and only the holders tier (the ServiceL2Status objects every speaker
// reads, with the life each was written in) keeps a VIP with its interim owner. Three speakers'
// Memberships on one ManualClock; after each step every live speaker decides, and the owners write
// (or delete) their objects as service-status-objects.ts would once its pacer ran. A killed
// speaker's objects stay behind (nobody deletes them), from its old life.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';
import { layer2Decision, layer2Owner, RankingCache, type Layer2State } from '../../../speaker/layer2-owner.js';
import { Membership } from '../../../speaker/membership.js';
import type { EndpointsView, ServiceView } from '../../../speaker/service-view.js';

const EPS: EndpointsView = { readyByNode: new Map([['n', 1]]) };
const NODES = ['node-a', 'node-b', 'node-c'];
const RENEW = 1000;
const DURATION = 3000;

function service(i: number, createdAt: number): ServiceView {
  return { key: `ns/s${i}`, ips: [`192.0.2.${i}`], pool: 'p', externalTrafficPolicy: 'Cluster', createdAt };
}

function cluster(opts: { holders: boolean }) {
  const clock = new ManualClock();
  let wallOffset = 1_800_000_000_000;
  const wall = (): number => wallOffset + clock.now();
  const views = new Map<string, Membership>();
  const ranking = new Map<string, RankingCache>();
  const alive = new Map<string, { joinedAt: number; version: number }>();
  /** The ServiceL2Status objects: Service key -> node -> life written on it. */
  const objects = new Map<string, Map<string, number>>();
  const start = (node: string): void => {
    wallOffset += 1; // lives of one node never share a millisecond
    const joinedAt = wall();
    alive.set(node, { joinedAt, version: 0 });
    const m = new Membership({ clock, leaseDurationMs: DURATION, self: node, renewMs: RENEW });
    views.set(node, m);
    ranking.set(node, new RankingCache());
    // The new process lists every Lease, its own with the new life already (selfJoinedAt covers the other case).
    for (const [n, lease] of alive) m.observe(n, `${n}-${lease.joinedAt}-${lease.version}`, lease.joinedAt);
  };
  const renewAll = (): void => {
    for (const [node, lease] of alive) {
      lease.version++;
      for (const [viewer, m] of views) if (alive.has(viewer)) m.observe(node, `${node}-${lease.joinedAt}-${lease.version}`, lease.joinedAt);
    }
  };
  const advance = (ms: number): void => {
    for (let t = 0; t < ms; t += RENEW) {
      renewAll();
      clock.advance(Math.min(RENEW, ms - t));
    }
  };
  const state = (viewer: string): Layer2State => {
    const m = views.get(viewer);
    if (!m) throw new Error(viewer);
    return {
      liveSpeakers: m.liveSet(),
      nodeSelected: () => true,
      joinedAt: (n) => m.joinedAt(n),
      ranking: ranking.get(viewer),
      holders: opts.holders ? (svc) => objects.get(svc.key) : undefined,
    };
  };
  /** The owner as `viewer` decides it, checked against the uncached ranking and layer2Decision. */
  const owner = (viewer: string, svc: ServiceView): string | null => {
    const s = state(viewer);
    const result = layer2Owner(svc, EPS, s);
    expect(layer2Owner(svc, EPS, { ...s, ranking: undefined })).toEqual(result);
    const mine = layer2Decision(svc, EPS, { ...s, self: viewer, fenced: false, selfJoinedAt: alive.get(viewer)?.joinedAt });
    expect(mine === null).toBe(result.owner === viewer);
    return result.owner;
  };
  /** Every live speaker decides; each writes its object for what it announces and deletes the rest. */
  const settle = (services: readonly ServiceView[]): void => {
    for (const svc of services) {
      for (const [node, lease] of alive) {
        const mine = layer2Decision(svc, EPS, { ...state(node), self: node, fenced: false, selfJoinedAt: lease.joinedAt }) === null;
        let held = objects.get(svc.key);
        if (mine) {
          if (!held) objects.set(svc.key, (held = new Map()));
          held.set(node, lease.joinedAt);
        } else held?.delete(node);
      }
    }
  };
  const owners = (services: readonly ServiceView[]): (string | null)[] => {
    const viewers = [...alive.keys()];
    const first = services.map((s) => owner(viewers[0] as string, s));
    // Every live speaker agrees.
    for (const v of viewers.slice(1)) expect(services.map((s) => owner(v, s))).toEqual(first);
    return first;
  };
  /** SIGKILL: no shutdown code, the Lease expires; its objects stay. */
  const kill = (node: string): void => {
    alive.delete(node);
    views.delete(node);
  };
  /** SIGTERM: the Lease is deleted at once (graceful leave); the objects stay for the next life to settle. */
  const stop = (node: string): void => {
    kill(node);
    for (const m of views.values()) m.remove(node);
  };
  return { clock, wall, alive, objects, start, advance, settle, owners, kill, stop };
}

type Cluster = ReturnType<typeof cluster>;

/** Rolling restart (SIGTERM, start again), one speaker at a time, settling after each step. */
function rollingRestart(c: Cluster, services: readonly ServiceView[]): void {
  for (const n of NODES) {
    c.stop(n);
    c.advance(RENEW);
    c.settle(services);
    c.start(n);
    c.advance(2 * RENEW);
    c.settle(services);
  }
}

function moves(a: readonly (string | null)[], b: readonly (string | null)[]): number {
  return a.filter((x, i) => x !== b[i]).length;
}

/** Full turnover, then the owner of the most Services is SIGKILLed and comes back: moves on its return. */
function turnoverThenKill(holders: boolean): { during: (string | null)[]; after: (string | null)[]; victimHeld: number } {
  const c = cluster({ holders });
  for (const n of NODES) c.start(n);
  c.advance(5000);
  const services = Array.from({ length: 60 }, (_, i) => service(i + 1, c.wall()));
  c.advance(2000);
  c.settle(services);
  rollingRestart(c, services);
  // No speaker is older than the Services now.
  for (const lease of c.alive.values()) expect(lease.joinedAt).toBeGreaterThan(services[0]?.createdAt ?? 0);
  const before = c.owners(services);
  expect(new Set(before).size).toBeGreaterThan(1);
  const counts = NODES.map((n) => before.filter((o) => o === n).length);
  const victim = NODES[counts.indexOf(Math.max(...counts))] as string;
  c.kill(victim);
  c.advance(DURATION + 2 * RENEW);
  c.settle(services);
  const during = c.owners(services);
  for (let i = 0; i < services.length; i++) {
    if (before[i] === victim) expect(during[i]).not.toBe(victim);
    else expect(during[i]).toBe(before[i]);
  }
  c.start(victim);
  c.advance(5000);
  c.settle(services);
  const after = c.owners(services);
  return { during, after, victimHeld: counts[NODES.indexOf(victim)] ?? 0 };
}

describe('no flap back after a full turnover (issue 13.3, holders tier)', () => {
  it('rolling restart of every speaker, then the owner is SIGKILLed and returns: zero moves back', () => {
    const { during, after, victimHeld } = turnoverThenKill(true);
    expect(victimHeld).toBeGreaterThan(0);
    expect(moves(during, after)).toBe(0);
  });

  it('the same without the holders (--service-status=false): the seniority rule alone moves them back', () => {
    // The documented fallback: this is the gap the holders tier closes.
    const { during, after, victimHeld } = turnoverThenKill(false);
    expect(moves(during, after)).toBe(victimHeld);
  });

  it("a returning speaker's objects from its previous life hold nothing; the interim owner's do", () => {
    const c = cluster({ holders: true });
    for (const n of NODES) c.start(n);
    c.advance(3000);
    const services = Array.from({ length: 30 }, (_, i) => service(i + 1, c.wall()));
    c.advance(1000);
    c.settle(services);
    rollingRestart(c, services);
    const before = c.owners(services);
    const victim = before[0] as string;
    c.kill(victim);
    c.advance(DURATION + 2 * RENEW);
    c.settle(services);
    const interim = c.owners(services)[0] as string;
    // Both objects exist while the returning speaker has not settled yet: its own, from the old life, and the interim owner's.
    c.start(victim);
    c.advance(2 * RENEW);
    expect([...(c.objects.get('ns/s1')?.keys() ?? [])].sort()).toEqual([victim, interim].sort());
    expect(c.owners(services)[0]).toBe(interim);
    c.settle(services);
    expect([...(c.objects.get('ns/s1')?.keys() ?? [])]).toEqual([interim]);
  });

  it('a holder that stops being eligible loses the Service; regaining eligibility does not take it back', () => {
    const s: ServiceView = { ...service(5, 1000), externalTrafficPolicy: 'Local' };
    const joined: Record<string, number> = { 'node-a': 5000, 'node-b': 6000, 'node-c': 7000 };
    const all: EndpointsView = { readyByNode: new Map(NODES.map((n) => [n, 1])) };
    const base = { liveSpeakers: NODES, nodeSelected: () => true, joinedAt: (n: string) => joined[n] };
    const first = layer2Owner(s, all, base).owner as string;
    const withoutFirst: EndpointsView = { readyByNode: new Map(NODES.filter((n) => n !== first).map((n) => [n, 1])) };
    const interim = layer2Owner(s, withoutFirst, { ...base, holders: () => new Map([[first, joined[first] ?? 0]]) }).owner as string;
    expect(interim).not.toBe(first);
    // The first deleted its object when it stopped announcing; the interim owner wrote one.
    expect(layer2Owner(s, all, { ...base, holders: () => new Map([[interim, joined[interim] ?? 0]]) })).toEqual({ owner: interim });
    // Without the holders the ranking would take it back.
    expect(layer2Owner(s, all, base)).toEqual({ owner: first });
  });

  it('a holding written in another life of the node (or without a life) counts for nothing', () => {
    const s = service(11, 1000);
    const joined: Record<string, number> = { 'node-a': 5000, 'node-b': 6000, 'node-c': 7000 };
    const base = { liveSpeakers: NODES, nodeSelected: () => true, joinedAt: (n: string) => joined[n] };
    const plain = layer2Owner(s, EPS, base).owner as string;
    const other = NODES.find((n) => n !== plain) as string;
    expect(layer2Owner(s, EPS, { ...base, holders: () => new Map([[other, (joined[other] ?? 0) - 1]]) })).toEqual({ owner: plain });
    expect(layer2Owner(s, EPS, { ...base, holders: () => new Map([[other, joined[other] ?? 0]]) })).toEqual({ owner: other });
    // Holders need join times to be judged: without them, the plain ranking.
    expect(layer2Owner(s, EPS, { liveSpeakers: NODES, nodeSelected: () => true, holders: () => new Map([[other, 1]]) })).toEqual({ owner: plain });
  });

  it('any sequence of kills, graceful restarts and returns moves a Service only when its owner dies or leaves (property)', () => {
    const step = fc.record({ node: fc.constantFrom(...NODES), graceful: fc.boolean() });
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 8 }), (sequence) => {
        const c = cluster({ holders: true });
        for (const n of NODES) c.start(n);
        c.advance(4000);
        const services = Array.from({ length: 20 }, (_, i) => service(i + 1, c.wall()));
        c.advance(2000);
        c.settle(services);
        let owners = c.owners(services);
        for (const { node, graceful } of sequence) {
          if (c.alive.size === 1 && c.alive.has(node)) continue;
          if (c.alive.has(node)) {
            if (graceful) c.stop(node);
            else c.kill(node);
            c.advance(graceful ? RENEW : DURATION + 2 * RENEW);
          } else {
            c.start(node);
            c.advance(3000);
          }
          c.settle(services);
          const next = c.owners(services);
          // Only the Services of a node that died or left move; a return moves nothing, however old the Services.
          for (let i = 0; i < services.length; i++) if (owners[i] !== node) expect(next[i]).toBe(owners[i]);
          if (c.alive.has(node)) expect(next).toEqual(owners);
          owners = next;
        }
      }),
      { numRuns: 80 },
    );
  });
});
