// Issue 13.3 after a full turnover: every speaker restarted after the Services were created, so the
// seniority tiers are empty and only the holders tier (the ServiceL2Status objects every speaker
// reads, with the life each was written in and whom its writer took the Service over from) keeps a
// VIP with its interim owner. Three speakers' Memberships on one ManualClock; after each step every
// live speaker decides, and the owners write (or delete) their objects as service-status-objects.ts
// would once its pacer ran: a node that starts announcing a Service asks layer2TakeoverFrom, as the
// speaker does, with the nodes its Membership saw renewing. A killed speaker's objects stay behind
// (nobody deletes them), from its old life; a fenced one's too, until it is back. A fenced speaker's
// view of the objects stops at its fence and stays so after its return until it lists them again
// (listed()): the watch resuming after a cut delivers what happened meanwhile only later; until then
// its claims are gated (claim-gate.ts), as the speaker does.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';
import { layer2Decision, layer2Owner, layer2TakeoverFrom, rankSpeakers, RankingCache, type Hold, type Layer2State } from '../../../speaker/layer2-owner.js';
import { Membership } from '../../../speaker/membership.js';
import type { EndpointsView, ServiceView } from '../../../speaker/service-view.js';

const EPS: EndpointsView = { readyByNode: new Map([['n', 1]]) };
const NODES = ['node-a', 'node-b', 'node-c'];
const RENEW = 1000;
const DURATION = 3000;

function service(i: number, createdAt: number): ServiceView {
  return { key: `ns/s${i}`, ips: [`192.0.2.${i}`], pool: 'p', externalTrafficPolicy: 'Cluster', createdAt };
}

/** The owner the plain ranking gives `svc` over every node. */
function hashOwner(svc: ServiceView): string {
  return rankSpeakers(NODES, svc.ips[0] as string)[0] as string;
}

function cluster(opts: { holders: boolean; gate?: boolean }) {
  const gate = opts.gate ?? true;
  const clock = new ManualClock();
  let wallOffset = 1_800_000_000_000;
  const wall = (): number => wallOffset + clock.now();
  const views = new Map<string, Membership>();
  const ranking = new Map<string, RankingCache>();
  const alive = new Map<string, { joinedAt: number; version: number }>();
  /** Cut off from the API server: renews nothing, sees nothing, announces nothing (fenced). */
  const fenced = new Set<string>();
  /** The ServiceL2Status objects: Service key -> node -> life written on it, and the takeover. */
  const objects = new Map<string, Map<string, Hold>>();
  /** What each node announced at its last decision (a new entry is an assignment: the takeover is asked then). */
  const announced = new Map<string, Set<string>>();
  /** A node's view of the objects as of its fence (a copy), until it lists them again after its return. */
  const staleView = new Map<string, Map<string, Map<string, Hold>>>();
  const copyObjects = (): Map<string, Map<string, Hold>> => new Map([...objects].map(([k, held]) => [k, new Map(held)]));
  const objectsSeenBy = (viewer: string, key: string): ReadonlyMap<string, Hold> | undefined => (staleView.get(viewer) ?? objects).get(key);
  const start = (node: string): void => {
    wallOffset += 1; // lives of one node never share a millisecond
    const joinedAt = wall();
    alive.set(node, { joinedAt, version: 0 });
    fenced.delete(node);
    const m = new Membership({ clock, leaseDurationMs: DURATION, self: node, renewMs: RENEW });
    views.set(node, m);
    ranking.set(node, new RankingCache());
    announced.set(node, new Set());
    // The new process lists every Lease, its own with the new life already (selfJoinedAt covers the other case).
    for (const [n, lease] of alive) if (!fenced.has(n)) m.observe(n, `${n}-${lease.joinedAt}-${lease.version}`, lease.joinedAt);
  };
  const renewAll = (): void => {
    for (const [node, lease] of alive) {
      if (fenced.has(node)) continue;
      lease.version++;
      for (const [viewer, m] of views) if (alive.has(viewer) && !fenced.has(viewer)) m.observe(node, `${node}-${lease.joinedAt}-${lease.version}`, lease.joinedAt);
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
      holders: opts.holders ? (svc) => objectsSeenBy(viewer, svc.key) : undefined,
    };
  };
  /** What `node` decides with: its own life, and claims gated while its view is older than its return. */
  const selfState = (node: string) => ({
    ...state(node),
    self: node,
    fenced: false,
    selfJoinedAt: alive.get(node)?.joinedAt,
    claimsGated: gate && staleView.has(node),
    announcing: (key: string) => announced.get(node)?.has(key) ?? false,
  });
  /** The owner as `viewer` decides it, checked against the uncached ranking and layer2Decision. */
  const owner = (viewer: string, svc: ServiceView): string | null => {
    const s = state(viewer);
    const result = layer2Owner(svc, EPS, s);
    expect(layer2Owner(svc, EPS, { ...s, ranking: undefined })).toEqual(result);
    const mine = layer2Decision(svc, EPS, selfState(viewer));
    expect(mine === null).toBe(result.owner === viewer);
    return result.owner;
  };
  /** Every live, unfenced speaker decides; each writes its object for what it announces and deletes the rest. */
  const settle = (services: readonly ServiceView[]): void => {
    for (const svc of services) {
      for (const [node, lease] of alive) {
        if (fenced.has(node)) continue;
        const self = selfState(node);
        const mine = layer2Decision(svc, EPS, self) === null;
        const was = announced.get(node) ?? new Set<string>();
        let held = objects.get(svc.key);
        if (mine) {
          if (!held) objects.set(svc.key, (held = new Map()));
          if (!was.has(svc.key)) {
            // An assignment: whether it is a takeover is asked now, once, as the speaker does.
            const tookOverFrom = layer2TakeoverFrom(svc, EPS, self, views.get(node)?.seenRenewing() ?? []);
            held.set(node, { life: lease.joinedAt, tookOverFrom });
            was.add(svc.key);
          }
        } else {
          held?.delete(node);
          was.delete(svc.key);
        }
      }
    }
  };
  const owners = (services: readonly ServiceView[]): (string | null)[] => {
    const viewers = [...alive.keys()].filter((n) => !fenced.has(n) && !staleView.has(n));
    const first = services.map((s) => owner(viewers[0] as string, s));
    // Every live speaker agrees.
    for (const v of viewers.slice(1)) expect(services.map((s) => owner(v, s))).toEqual(first);
    return first;
  };
  /** SIGKILL: no shutdown code, the Lease expires; its objects stay. */
  const kill = (node: string): void => {
    alive.delete(node);
    views.delete(node);
    fenced.delete(node);
    staleView.delete(node);
  };
  /** SIGTERM: the Lease is deleted at once (graceful leave); the objects stay for the next life to settle. */
  const stop = (node: string): void => {
    kill(node);
    for (const m of views.values()) m.remove(node);
  };
  /** Cut off from the API server: it fences itself (stops announcing), the others see its Lease expire. */
  const fence = (node: string): void => {
    fenced.add(node);
    announced.set(node, new Set());
    if (!staleView.has(node)) staleView.set(node, copyObjects());
  };
  /** The objects listed again after the return: the view is current from now on. */
  const listed = (node: string): void => {
    staleView.delete(node);
  };
  /** What `node` announces now. */
  const announcedBy = (node: string): ReadonlySet<string> => announced.get(node) ?? new Set();
  /** Back in contact: a new life (the speaker starts one when it fences), renewing and deciding again. */
  const unfence = (node: string): void => {
    const lease = alive.get(node);
    if (!lease) throw new Error(node);
    wallOffset += 1;
    lease.joinedAt = wall();
    fenced.delete(node);
  };
  /** The nodes `viewer` has seen renewing (what it asks layer2TakeoverFrom with). */
  const seen = (viewer: string): string[] => views.get(viewer)?.seenRenewing() ?? [];
  return { clock, wall, alive, fenced, objects, start, advance, settle, owners, kill, stop, fence, unfence, listed, announcedBy, seen };
}

type Cluster = ReturnType<typeof cluster>;

/** The speakers started one at a time after the Services exist, settling after each. */
function startOneByOne(c: Cluster, services: readonly ServiceView[]): void {
  for (const n of NODES) {
    c.start(n);
    c.advance(2 * RENEW);
    c.settle(services);
  }
}

/** The node owning the most Services (the first in NODES on a tie). */
function busiestOwner(owners: readonly (string | null)[]): string {
  const counts = NODES.map((n) => owners.filter((o) => o === n).length);
  return NODES[counts.indexOf(Math.max(...counts))] as string;
}

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

/** Every Service `gone` owned moved to another node; every other Service kept its owner. */
function expectOnlyMovedFrom(gone: string, before: readonly (string | null)[], after: readonly (string | null)[]): void {
  for (let i = 0; i < before.length; i++) {
    if (before[i] === gone) expect(after[i]).not.toBe(gone);
    else expect(after[i]).toBe(before[i]);
  }
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
  const victim = busiestOwner(before);
  c.kill(victim);
  c.advance(DURATION + 2 * RENEW);
  c.settle(services);
  const during = c.owners(services);
  expectOnlyMovedFrom(victim, before, during);
  c.start(victim);
  c.advance(5000);
  c.settle(services);
  const after = c.owners(services);
  return { during, after, victimHeld: before.filter((o) => o === victim).length };
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

  it('an owner that stops being eligible loses the Service; one regaining eligibility takes it back by the ranking unless the owner took it over from a failed node', () => {
    const s: ServiceView = { ...service(5, 1000), externalTrafficPolicy: 'Local' };
    const joined: Record<string, number> = { 'node-a': 5000, 'node-b': 6000, 'node-c': 7000 };
    const all: EndpointsView = { readyByNode: new Map(NODES.map((n) => [n, 1])) };
    const base = { liveSpeakers: NODES, nodeSelected: () => true, joinedAt: (n: string) => joined[n] };
    const first = layer2Owner(s, all, base).owner as string;
    const withoutFirst: EndpointsView = { readyByNode: new Map(NODES.filter((n) => n !== first).map((n) => [n, 1])) };
    const interim = layer2Owner(s, withoutFirst, base).owner as string;
    expect(interim).not.toBe(first);
    // The first is live, only ineligible: no takeover from a failed node, so the interim owner's object holds nothing.
    const self = { ...base, self: interim, fenced: false };
    expect(layer2TakeoverFrom(s, withoutFirst, self, NODES)).toBeUndefined();
    const mere = new Map<string, Hold>([[interim, { life: joined[interim] ?? 0, tookOverFrom: undefined }]]);
    expect(layer2Owner(s, all, { ...base, holders: () => mere })).toEqual({ owner: first });
    // An interim owner that took it over from a failed node (the third one, say) keeps it while eligible.
    const failed = NODES.find((n) => n !== first && n !== interim) as string;
    const took = new Map<string, Hold>([[interim, { life: joined[interim] ?? 0, tookOverFrom: failed }]]);
    expect(layer2Owner(s, all, { ...base, holders: () => took })).toEqual({ owner: interim });
    // ... and loses it when it stops being eligible itself.
    const withoutInterim: EndpointsView = { readyByNode: new Map(NODES.filter((n) => n !== interim).map((n) => [n, 1])) };
    expect(layer2Owner(s, withoutInterim, { ...base, holders: () => took }).owner).not.toBe(interim);
  });

  it('a holding counts only in the life it was written in and with a takeover named', () => {
    const s = service(11, 1000);
    const joined: Record<string, number> = { 'node-a': 5000, 'node-b': 6000, 'node-c': 7000 };
    const base = { liveSpeakers: NODES, nodeSelected: () => true, joinedAt: (n: string) => joined[n] };
    const plain = layer2Owner(s, EPS, base).owner as string;
    const other = NODES.find((n) => n !== plain) as string;
    const hold = (life: number, tookOverFrom: string | undefined) => () => new Map<string, Hold>([[other, { life, tookOverFrom }]]);
    const life = joined[other] ?? 0;
    expect(layer2Owner(s, EPS, { ...base, holders: hold(life - 1, 'node-x') })).toEqual({ owner: plain });
    expect(layer2Owner(s, EPS, { ...base, holders: hold(life, undefined) })).toEqual({ owner: plain });
    expect(layer2Owner(s, EPS, { ...base, holders: hold(life, 'node-x') })).toEqual({ owner: other });
    // Holders need join times to be judged: without them, the plain ranking.
    expect(layer2Owner(s, EPS, { liveSpeakers: NODES, nodeSelected: () => true, holders: hold(1, 'node-x') })).toEqual({ owner: plain });
  });

  it('takeover verdicts: none when the taker has seen no failed node, or ranks above every failed one; one naming the failed owner otherwise', () => {
    const s = service(21, 1000);
    const [top, second, third] = rankSpeakers(NODES, '192.0.2.21') as [string, string, string];
    const joined = (): number => 9000;
    const state = (self: string, live: string[]) => ({ liveSpeakers: live, nodeSelected: () => true, joinedAt: joined, self, fenced: false });
    // Alone since it started (nothing seen renewing): it takes everything over from nobody.
    expect(layer2TakeoverFrom(s, EPS, state(third, [third]), [third])).toBeUndefined();
    // The top one failed (seen renewing, not live): the second takes it over from it.
    expect(layer2TakeoverFrom(s, EPS, state(second, [second, third]), NODES)).toBe(top);
    // The third takes it when both above it failed: from the one that would own it, the top.
    expect(layer2TakeoverFrom(s, EPS, state(third, [third]), NODES)).toBe(top);
    // Ranking above every failed node: it owns the Service by rank, not by anybody's failure.
    expect(layer2TakeoverFrom(s, EPS, state(top, [top]), NODES)).toBeUndefined();
    // A failed node that would not own it anyway (not eligible) is no reason either.
    const onlySecond: EndpointsView = { readyByNode: new Map([[second, 1], [third, 1]]) };
    const local: ServiceView = { ...s, externalTrafficPolicy: 'Local' };
    expect(layer2TakeoverFrom(local, onlySecond, state(second, [second, third]), NODES)).toBeUndefined();
  });

  it('fresh install: the Services exist, the speakers start one by one: each Service ends with its hash owner, held by nobody', () => {
    const c = cluster({ holders: true });
    const services = Array.from({ length: 40 }, (_, i) => service(i + 1, 1000));
    startOneByOne(c, services);
    c.advance(2 * RENEW);
    c.settle(services);
    expect(c.owners(services)).toEqual(services.map(hashOwner));
    // The first speaker up took everything while alone: none of it was a takeover.
    for (const held of c.objects.values()) for (const h of held.values()) expect(h.tookOverFrom).toBeUndefined();
  });

  it('fence and return of every speaker in turn: each fence moves only the fenced owner\'s Services, no return moves any', () => {
    const c = cluster({ holders: true });
    const services = Array.from({ length: 40 }, (_, i) => service(i + 1, 1000));
    startOneByOne(c, services);
    let before = c.owners(services);
    for (const n of NODES) {
      c.fence(n);
      c.advance(DURATION + 2 * RENEW);
      c.settle(services);
      const during = c.owners(services);
      expectOnlyMovedFrom(n, before, during);
      // A fenced owner that returns while the others stayed healthy does not take its VIPs back (no flap back).
      c.unfence(n);
      c.advance(3 * RENEW);
      c.settle(services);
      c.listed(n);
      c.advance(RENEW);
      c.settle(services);
      expect(c.owners(services)).toEqual(during);
      before = during;
    }
  });

  it('full turnover, then a crash and the return: no move back (also from a fresh install started one by one)', () => {
    const c = cluster({ holders: true });
    const services = Array.from({ length: 40 }, (_, i) => service(i + 1, 1000));
    startOneByOne(c, services);
    rollingRestart(c, services);
    const before = c.owners(services);
    const victim = busiestOwner(before);
    c.kill(victim);
    c.advance(DURATION + 2 * RENEW);
    c.settle(services);
    const during = c.owners(services);
    c.start(victim);
    c.advance(3 * RENEW);
    c.settle(services);
    expect(c.owners(services)).toEqual(during);
  });

  /** The CI failure of session 7: a fenced owner back in contact, its view of the objects still as of its fence. */
  function fencedOwnerReturnsStale(gateOn: boolean) {
    const c = cluster({ holders: true, gate: gateOn });
    const services = Array.from({ length: 30 }, (_, i) => service(i + 1, 1000));
    startOneByOne(c, services);
    const before = c.owners(services);
    const victim = busiestOwner(before);
    c.fence(victim);
    c.advance(DURATION + 2 * RENEW);
    c.settle(services);
    const during = c.owners(services);
    expectOnlyMovedFrom(victim, before, during);
    c.unfence(victim);
    c.advance(3 * RENEW);
    c.settle(services);
    // What it announces before its view caught up; every Service has its interim owner announcing it meanwhile.
    const claimedStale = [...c.announcedBy(victim)];
    c.listed(victim);
    c.settle(services);
    c.advance(RENEW);
    c.settle(services);
    return { c, services, victim, during, claimedStale, held: before.filter((o) => o === victim).length };
  }

  it('a fenced owner back in contact before its view of the objects caught up claims nothing (the claim gate), and takes nothing back after', () => {
    const { c, services, victim, during, claimedStale, held } = fencedOwnerReturnsStale(true);
    expect(held).toBeGreaterThan(0);
    expect(claimedStale).toEqual([]);
    expect(c.owners(services)).toEqual(during);
    expect(c.announcedBy(victim).size).toBe(0);
  });

  it('the same without the gate: the stale view lacks the takers\' objects, so it claims its Services back by the hash (the flap back the gate closes)', () => {
    const { c, services, victim, during, claimedStale, held } = fencedOwnerReturnsStale(false);
    expect(claimedStale).toHaveLength(held);
    // Once its view caught up it lets them go again: the interim owners hold, only the brief flap happened.
    expect(c.owners(services)).toEqual(during);
    expect(c.announcedBy(victim).size).toBe(0);
  });

  it('claims gated: a Service the speaker announces already is kept, one it does not is not claimed (viewStale), another owner\'s stays notOwner', () => {
    const s = service(31, 1000);
    const [top, second] = rankSpeakers(NODES, '192.0.2.31') as [string, string];
    const base = { liveSpeakers: NODES, nodeSelected: () => true, joinedAt: () => 5000, fenced: false, claimsGated: true };
    expect(layer2Decision(s, EPS, { ...base, self: top, announcing: () => false })).toBe('viewStale');
    expect(layer2Decision(s, EPS, { ...base, self: top })).toBe('viewStale');
    expect(layer2Decision(s, EPS, { ...base, self: top, announcing: (k) => k === s.key })).toBeNull();
    expect(layer2Decision(s, EPS, { ...base, self: second, announcing: () => false })).toBe('notOwner');
    expect(layer2Decision(s, EPS, { ...base, self: top, claimsGated: false })).toBeNull();
  });

  it('any sequence of kills, graceful restarts, fences and returns moves a Service only when its owner dies, leaves or fences; a return moves only what its owner took while it had never seen the returning node renew (property)', () => {
    const step = fc.record({ node: fc.constantFrom(...NODES), how: fc.constantFrom('kill', 'stop', 'fence') });
    fc.assert(
      fc.property(fc.boolean(), fc.array(step, { minLength: 1, maxLength: 8 }), (oneByOne, sequence) => {
        const c = cluster({ holders: true });
        // Either one by one after the Services exist (a fresh install), or together before they are created.
        let services = Array.from({ length: 20 }, (_, i) => service(i + 1, 1000));
        for (const n of NODES) {
          c.start(n);
          if (oneByOne) {
            c.advance(2 * RENEW);
            c.settle(services);
          }
        }
        c.advance(4000);
        if (!oneByOne) services = services.map((s, i) => service(i + 1, c.wall()));
        c.advance(2000);
        c.settle(services);
        let owners = c.owners(services);
        if (oneByOne) expect(owners).toEqual(services.map(hashOwner));
        for (const { node, how } of sequence) {
          const up = c.alive.has(node) && !c.fenced.has(node);
          // Owners that never saw `node` renew (started after it failed, the first up): to them its return is a join.
          const strangers = new Set([...c.alive.keys()].filter((o) => !c.seen(o).includes(node)));
          if (up && [...c.alive.keys()].filter((n) => !c.fenced.has(n)).length === 1) continue;
          if (up) {
            if (how === 'stop') c.stop(node);
            else if (how === 'kill') c.kill(node);
            else c.fence(node);
            c.advance(how === 'stop' ? RENEW : DURATION + 2 * RENEW);
          } else {
            const wasFenced = c.fenced.has(node);
            if (wasFenced) c.unfence(node);
            else c.start(node);
            c.advance(3 * RENEW);
            c.settle(services);
            if (wasFenced) {
              // Back with its view as of its fence: it claims nothing before it listed the objects again.
              expect(c.announcedBy(node).size).toBe(0);
              c.listed(node);
              c.settle(services);
            }
            c.advance(RENEW);
          }
          c.settle(services);
          const next = c.owners(services);
          // Only the Services of a node that died, left or fenced move; a return moves nothing, however
          // old the Services, but what an owner took without ever seeing the returning node renew (the
          // ranking places it as at a fresh install: a speaker alone since it started holds nothing).
          for (let i = 0; i < services.length; i++) {
            if (owners[i] === node || next[i] === owners[i]) continue;
            expect(up).toBe(false);
            expect(next[i]).toBe(node);
            expect(strangers.has(owners[i] as string)).toBe(true);
          }
          owners = next;
        }
      }),
      { numRuns: 100 },
    );
  });
});
