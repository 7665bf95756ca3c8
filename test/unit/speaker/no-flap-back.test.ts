// Issue 13.3: when a failed speaker returns, its layer2 VIPs stay with the interim owner. Three
// speakers' views (Membership on one ManualClock, Leases observed as the watch would deliver them)
// decide the owner of many Services; the owner of each is killed, expires, comes back, and nothing
// moves again.
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

/** A cluster of speakers: each node's Lease (version, acquireTime) as every speaker's watch sees it. */
function cluster() {
  const clock = new ManualClock();
  const wall = (): number => 1_800_000_000_000 + clock.now();
  const views = new Map(NODES.map((n) => [n, new Membership({ clock, leaseDurationMs: DURATION, self: n, renewMs: RENEW })]));
  const alive = new Map<string, { joinedAt: number; version: number }>();
  const start = (node: string): void => {
    alive.set(node, { joinedAt: wall(), version: 0 });
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
  /** The owner as `viewer` decides it (with its ranking cache), checked against layer2Decision. */
  const ranking = new Map(NODES.map((n) => [n, new RankingCache()]));
  const owner = (viewer: string, svc: ServiceView): string | null => {
    const m = views.get(viewer);
    if (!m) throw new Error(viewer);
    const state: Layer2State = { liveSpeakers: m.liveSet(), nodeSelected: () => true, joinedAt: (n) => m.joinedAt(n), ranking: ranking.get(viewer) };
    const result = layer2Owner(svc, EPS, state);
    const plain = layer2Owner(svc, EPS, { ...state, ranking: undefined });
    expect(plain).toEqual(result);
    const mine = layer2Decision(svc, EPS, { ...state, self: viewer, fenced: false });
    expect(mine === null).toBe(result.owner === viewer);
    return result.owner;
  };
  return { clock, wall, views, alive, start, advance, owner, kill: (n: string) => alive.delete(n) };
}

describe('layer2 ownership does not flap back (issue 13.3)', () => {
  it('kill the owner, it comes back: one move (the failover), then zero', () => {
    const c = cluster();
    for (const n of NODES) c.start(n);
    c.advance(5000);
    const services = Array.from({ length: 60 }, (_, i) => service(i + 1, c.wall()));
    c.advance(2000);
    const owners = (): (string | null)[] => services.map((s) => c.owner('node-c', s));
    const before = owners();
    // Every speaker agrees, and the hash spreads the Services over all three nodes.
    for (const viewer of ['node-a', 'node-b']) expect(services.map((s) => c.owner(viewer, s))).toEqual(before);
    expect(new Set(before)).toEqual(new Set(NODES));

    const victim = 'node-a';
    c.kill(victim);
    c.advance(DURATION + 2 * RENEW);
    const during = owners();
    for (let i = 0; i < services.length; i++) {
      if (before[i] === victim) expect(during[i]).not.toBe(victim);
      else expect(during[i]).toBe(before[i]); // rendezvous: only the victim's Services move
    }
    c.start(victim);
    c.advance(5000);
    expect(c.views.get('node-c')?.isLive(victim)).toBe(true);
    for (const viewer of NODES) expect(services.map((s) => c.owner(viewer, s))).toEqual(during);

    // A Service created after the return is placed by the hash over all three again.
    const fresh = Array.from({ length: 30 }, (_, i) => service(100 + i, c.wall()));
    c.advance(1000);
    expect(fresh.map((s) => c.owner('node-b', s))).toContain(victim);
  });

  it('a restarted speaker that first lists its own old Lease (old acquireTime) still claims none of its VIPs back', () => {
    const c = cluster();
    for (const n of NODES) c.start(n);
    c.advance(5000);
    const services = Array.from({ length: 60 }, (_, i) => service(i + 1, c.wall()));
    c.advance(2000);
    const victim = 'node-a';
    const oldLife = c.alive.get(victim)?.joinedAt ?? 0;
    const hers = services.filter((s) => c.owner('node-b', s) === victim);
    expect(hers.length).toBeGreaterThan(0);
    c.kill(victim);
    c.advance(DURATION + 2 * RENEW);
    // The new process: a fresh view from the first list, where its own Lease still has the old
    // acquireTime (its first write with the new one has not come back through the watch yet).
    const newLife = c.wall();
    const fresh = new Membership({ clock: c.clock, leaseDurationMs: DURATION, self: victim, renewMs: RENEW });
    for (const [node, lease] of c.alive) fresh.observe(node, `${node}-${lease.version}`, lease.joinedAt);
    fresh.observe(victim, 'stale', oldLife);
    const state = { liveSpeakers: fresh.liveSet(), nodeSelected: () => true, joinedAt: (n: string) => fresh.joinedAt(n), self: victim, fenced: false };
    for (const s of hers) {
      // Judged by the listed Lease alone it would take the VIP back: the flap this field prevents.
      expect(layer2Decision(s, EPS, state)).toBeNull();
      expect(layer2Decision(s, EPS, { ...state, selfJoinedAt: newLife })).toBe('notOwner');
    }
  });

  it('any sequence of kills and returns moves a Service only when its owner dies', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...NODES), { minLength: 1, maxLength: 6 }), (sequence) => {
        const c = cluster();
        for (const n of NODES) c.start(n);
        c.advance(4000);
        const services = Array.from({ length: 20 }, (_, i) => service(i + 1, c.wall()));
        c.advance(2000);
        let owners = services.map((s) => c.owner('node-b', s));
        for (const node of sequence) {
          // Never kill the last speaker standing: then there is no owner at all.
          if (c.alive.size === 1 && c.alive.has(node)) continue;
          const viewer = [...c.alive.keys()].find((n) => n !== node) ?? node;
          if (c.alive.has(node)) {
            c.kill(node);
            c.advance(DURATION + 2 * RENEW);
            const next = services.map((s) => c.owner(viewer, s));
            for (let i = 0; i < services.length; i++) if (owners[i] !== node) expect(next[i]).toBe(owners[i]);
            owners = next;
          } else {
            c.start(node);
            c.advance(3000);
            const next = services.map((s) => c.owner(viewer, s));
            const stillVeteran = NODES.some((n) => c.alive.get(n) !== undefined && (c.alive.get(n)?.joinedAt ?? Infinity) < (services[0]?.createdAt ?? 0));
            // While a speaker older than the Services is live, a return moves nothing.
            if (stillVeteran) expect(next).toEqual(owners);
            owners = next;
          }
        }
      }),
      { numRuns: 60 },
    );
  });

  it('with no join times (older speakers), ownership is the plain ranking', () => {
    const s = service(7, 1000);
    const live = new Set(NODES);
    const withTimes = layer2Owner(s, EPS, { liveSpeakers: live, nodeSelected: () => true, joinedAt: () => 5000 });
    const without = layer2Owner(s, EPS, { liveSpeakers: live, nodeSelected: () => true });
    expect(withTimes).toEqual(without);
  });

  it('an older speaker that is not eligible is skipped; a younger eligible one serves', () => {
    const s: ServiceView = { ...service(9, 10_000), externalTrafficPolicy: 'Local' };
    const eps: EndpointsView = { readyByNode: new Map([['node-c', 1]]) };
    const joined: Record<string, number> = { 'node-a': 1, 'node-b': 1, 'node-c': 20_000 };
    expect(layer2Owner(s, eps, { liveSpeakers: NODES, nodeSelected: () => true, joinedAt: (n) => joined[n] })).toEqual({ owner: 'node-c' });
  });
});
