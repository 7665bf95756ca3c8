import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { layer2Decision, layer2Owner, rankSpeakers, RankingCache, type Layer2State } from '../../../speaker/layer2-owner.js';
import type { EndpointsView, RankingSlot, ServiceView, TrafficPolicy } from '../../../speaker/service-view.js';

const everyNode = () => true;

function svc(key: string, ips: string[], policy: TrafficPolicy = 'Cluster'): ServiceView {
  return { key, ips, pool: 'default', externalTrafficPolicy: policy };
}

function eps(byNode: Record<string, number>, readyWithoutNode = 0): EndpointsView {
  return { readyByNode: new Map(Object.entries(byNode)), readyWithoutNode };
}

describe('layer2 owner ranking', () => {
  it('ranks by SHA-256(node#firstVIP) compared as unsigned bytes (pinned vectors)', () => {
    const nodes = ['node-a', 'node-b', 'node-c', 'node-d'];
    expect(rankSpeakers(nodes, '192.0.2.10')).toEqual(['node-d', 'node-c', 'node-b', 'node-a']);
    expect(rankSpeakers(nodes, '2001:db8::10')).toEqual(['node-b', 'node-a', 'node-c', 'node-d']);
  });

  it('agrees with an independent oracle (hex digests compared as strings)', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 8 }), fc.ipV4(), (nodes, vip) => {
        const hex = (n: string) => createHash('sha256').update(Buffer.from(`${n}#${vip}`, 'utf8')).digest('hex');
        const expected = [...nodes].sort((a, b) => (hex(a) < hex(b) ? -1 : hex(a) > hex(b) ? 1 : 0));
        expect(rankSpeakers(nodes, vip)).toEqual(expected);
      }),
    );
  });

  it('uses only the first VIP of a dual-stack Service', () => {
    const live = ['node-a', 'node-b', 'node-c', 'node-d'];
    const state: Layer2State = { liveSpeakers: live, nodeSelected: everyNode };
    const ready = eps({ 'node-a': 1 });
    expect(layer2Owner(svc('ns/v4first', ['192.0.2.10', '2001:db8::10']), ready, state)).toEqual({ owner: 'node-d' });
    expect(layer2Owner(svc('ns/v6first', ['2001:db8::10', '192.0.2.10']), ready, state)).toEqual({ owner: 'node-b' });
  });
});

describe('layer2 owner eligibility and reasons', () => {
  const live = ['node-a', 'node-b', 'node-c', 'node-d'];
  const state: Layer2State = { liveSpeakers: live, nodeSelected: everyNode };

  it('does not announce a Service without VIPs or without any ready endpoint', () => {
    expect(layer2Owner(svc('ns/s', []), eps({ 'node-a': 1 }), state)).toEqual({ owner: null, reason: 'noIPs' });
    expect(layer2Owner(svc('ns/s', ['192.0.2.10']), eps({ 'node-a': 0 }), state)).toEqual({ owner: null, reason: 'noEndpoints' });
    const self = { ...state, self: 'node-d', fenced: false };
    expect(layer2Decision(svc('ns/s', ['192.0.2.10']), eps({}), self)).toBe('noEndpoints');
    expect(layer2Decision(svc('ns/s', []), eps({ 'node-a': 1 }), self)).toBe('noIPs');
  });

  it('counts endpoints without a node name for Cluster policy only', () => {
    expect(layer2Owner(svc('ns/s', ['192.0.2.10']), eps({}, 2), state)).toEqual({ owner: 'node-d' });
    expect(layer2Owner(svc('ns/s', ['192.0.2.10'], 'Local'), eps({}, 2), state)).toEqual({ owner: null, reason: 'noLocalEndpoints' });
  });

  it('Cluster policy: the top-ranked live node owns it, wherever the endpoints are', () => {
    const s = svc('ns/s', ['192.0.2.10']);
    const e = eps({ 'node-a': 1 });
    expect(layer2Owner(s, e, state)).toEqual({ owner: 'node-d' });
    expect(layer2Decision(s, e, { ...state, self: 'node-d', fenced: false })).toBeNull();
    expect(layer2Decision(s, e, { ...state, self: 'node-a', fenced: false })).toBe('notOwner');
  });

  it('Local policy: only nodes with a ready endpoint are eligible', () => {
    const s = svc('ns/s', ['192.0.2.10'], 'Local');
    const e = eps({ 'node-a': 1, 'node-b': 2, 'node-c': 0 });
    expect(layer2Owner(s, e, state)).toEqual({ owner: 'node-b' });
    expect(layer2Decision(s, e, { ...state, self: 'node-c', fenced: false })).toBe('noLocalEndpoints');
    expect(layer2Decision(s, e, { ...state, self: 'node-d', fenced: false })).toBe('noLocalEndpoints');
    expect(layer2Decision(s, e, { ...state, self: 'node-a', fenced: false })).toBe('notOwner');
    expect(layer2Decision(s, e, { ...state, self: 'node-b', fenced: false })).toBeNull();
  });

  it('Local policy with endpoints only on dead or unselected nodes: no owner, noLocalEndpoints', () => {
    const s = svc('ns/s', ['192.0.2.10'], 'Local');
    expect(layer2Owner(s, eps({ 'node-z': 1 }), state)).toEqual({ owner: null, reason: 'noLocalEndpoints' });
  });

  it('honours the node selector predicate', () => {
    const s = svc('ns/s', ['192.0.2.10']);
    const e = eps({ 'node-a': 1 });
    const selected = { liveSpeakers: live, nodeSelected: (n: string) => n !== 'node-d' };
    expect(layer2Owner(s, e, selected)).toEqual({ owner: 'node-c' });
    expect(layer2Decision(s, e, { ...selected, self: 'node-d', fenced: false })).toBe('nodeNotSelected');
    expect(layer2Owner(s, e, { liveSpeakers: live, nodeSelected: () => false })).toEqual({ owner: null, reason: 'noEligibleSpeakers' });
  });

  it('a fenced owner does not answer, and nobody else takes over before membership expires it', () => {
    const s = svc('ns/s', ['192.0.2.10']);
    const e = eps({ 'node-a': 1 });
    expect(layer2Decision(s, e, { ...state, self: 'node-d', fenced: true })).toBe('fenced');
    expect(layer2Decision(s, e, { ...state, self: 'node-c', fenced: false })).toBe('notOwner');
  });

  it('a speaker not (yet) in the live set says notLive, not notOwner', () => {
    const s = svc('ns/s', ['192.0.2.10']);
    const decision = layer2Decision(s, eps({ 'node-a': 1 }), { liveSpeakers: new Set(['node-a']), nodeSelected: everyNode, self: 'node-d', fenced: false });
    expect(decision).toBe('notLive');
  });
});

// ---- properties -------------------------------------------------------------------------------

const nodeNames = fc.uniqueArray(fc.stringMatching(/^[a-z][a-z0-9-]{0,10}$/), { minLength: 1, maxLength: 7 });

interface World {
  nodes: string[];
  live: string[];
  selected: Set<string>;
  services: Array<{ service: ServiceView; endpoints: EndpointsView }>;
}

const world: fc.Arbitrary<World> = nodeNames.chain((nodes) =>
  fc.record({
    nodes: fc.constant(nodes),
    live: fc.subarray(nodes),
    selected: fc.subarray(nodes).map((s) => new Set(s)),
    services: fc.array(
      fc.record({
        ips: fc.array(fc.oneof(fc.ipV4(), fc.ipV6()), { minLength: 1, maxLength: 2 }),
        policy: fc.constantFrom<TrafficPolicy>('Cluster', 'Local'),
        ready: fc.array(fc.tuple(fc.constantFrom(...nodes), fc.nat(3))),
      }),
      { minLength: 1, maxLength: 12 },
    ),
  }).map(({ nodes: n, live, selected, services }) => ({
    nodes: n,
    live,
    selected,
    services: services.map((s, i) => ({
      service: svc(`ns/s${i}`, s.ips, s.policy),
      endpoints: { readyByNode: new Map(s.ready) },
    })),
  })),
);

function stateOf(w: World, live = w.live): Layer2State {
  return { liveSpeakers: live, nodeSelected: (n) => w.selected.has(n) };
}

describe('layer2 claims with liveness (mayClaimFrom, liveness-gate.ts)', () => {
  it('a claim waits for the owner without this speaker; a VIP announced already, or with no other owner, does not', () => {
    const s = svc('ns/s', ['192.0.2.10']);
    const e = eps({ 'node-a': 1 });
    const ranked = rankSpeakers(['node-a', 'node-b', 'node-c', 'node-d'], '192.0.2.10');
    const [first, second] = ranked as [string, string];
    const asked: string[] = [];
    let answered = false;
    const state = {
      liveSpeakers: ranked,
      nodeSelected: everyNode,
      self: first,
      fenced: false,
      announcing: () => false,
      mayClaimFrom: (n: string) => {
        asked.push(n);
        return answered;
      },
    };
    expect(layer2Decision(s, e, state)).toBe('awaitingPeer');
    expect(asked).toEqual([second]);
    answered = true;
    expect(layer2Decision(s, e, state)).toBeNull();
    answered = false;
    expect(layer2Decision(s, e, { ...state, announcing: () => true })).toBeNull(); // held: kept
    expect(layer2Decision(s, e, { ...state, liveSpeakers: [first] })).toBeNull(); // nobody else would answer
    expect(layer2Decision(s, e, { ...state, self: second })).toBe('notOwner'); // not the owner: nothing asked
    expect(asked).toEqual([second, second]);
    // The node asked is the owner without us by the whole rule (selectors, policy), not the next in rank.
    const third = ranked[2] as string;
    expect(layer2Decision(s, e, { ...state, nodeSelected: (n: string) => n !== second })).toBe('awaitingPeer');
    expect(asked.at(-1)).toBe(third);
  });
});

describe('layer2 owner properties', () => {
  it('every speaker computes the same owner, whatever the order it lists live speakers in', () => {
    fc.assert(
      fc.property(world, fc.integer(), (w, seed) => {
        const shuffled = [...w.live].sort((a, b) => (ownerHash(a, seed) < ownerHash(b, seed) ? -1 : 1));
        for (const { service, endpoints } of w.services) {
          expect(layer2Owner(service, endpoints, stateOf(w, shuffled))).toEqual(layer2Owner(service, endpoints, stateOf(w)));
        }
      }),
    );
  });

  it('exactly one speaker answers for each VIP that has an owner, none otherwise; the owner is eligible', () => {
    fc.assert(
      fc.property(world, (w) => {
        for (const { service, endpoints } of w.services) {
          const result = layer2Owner(service, endpoints, stateOf(w));
          const answering = w.nodes.filter((self) => layer2Decision(service, endpoints, { ...stateOf(w), self, fenced: false }) === null);
          if (result.owner === null) {
            expect(answering).toEqual([]);
          } else {
            expect(answering).toEqual([result.owner]);
            expect(w.live).toContain(result.owner);
            expect(w.selected.has(result.owner)).toBe(true);
            if (service.externalTrafficPolicy === 'Local') expect(endpoints.readyByNode.get(result.owner) ?? 0).toBeGreaterThan(0);
          }
        }
      }),
    );
  });

  it('removing a non-owner never moves ownership', () => {
    fc.assert(
      fc.property(world, fc.nat(), (w, pick) => {
        if (w.live.length === 0) return;
        const gone = w.live[pick % w.live.length];
        const after = w.live.filter((n) => n !== gone);
        for (const { service, endpoints } of w.services) {
          const before = layer2Owner(service, endpoints, stateOf(w));
          if (before.owner !== null && before.owner !== gone) {
            expect(layer2Owner(service, endpoints, stateOf(w, after))).toEqual(before);
          }
        }
      }),
    );
  });

  it('removing the owner moves only the Services it owned, each to its next-ranked eligible node', () => {
    fc.assert(
      fc.property(world, fc.nat(), (w, pick) => {
        if (w.live.length === 0) return;
        const gone = w.live[pick % w.live.length];
        const after = w.live.filter((n) => n !== gone);
        for (const { service, endpoints } of w.services) {
          const before = layer2Owner(service, endpoints, stateOf(w));
          const next = layer2Owner(service, endpoints, stateOf(w, after));
          if (before.owner === gone) {
            expect(next.owner).not.toBe(gone);
            const eligibleRanked = rankSpeakers(w.live, service.ips[0]).filter(
              (n) => w.selected.has(n) && (service.externalTrafficPolicy === 'Cluster' || (endpoints.readyByNode.get(n) ?? 0) > 0),
            );
            expect(next.owner).toBe(eligibleRanked[1] ?? null);
          } else {
            // Only the owner matters here: a no-owner reason may legitimately get more specific.
            expect(next.owner).toBe(before.owner);
          }
        }
      }),
    );
  });
});

describe('RankingCache', () => {
  it('gives the same owners and reasons as uncached ranking over changing live sets (property)', () => {
    fc.assert(
      fc.property(world, fc.array(fc.subarray(['x1', 'x2', 'x3']), { maxLength: 3 }), fc.array(fc.nat(), { minLength: 1, maxLength: 6 }), (w, extraNodes, picks) => {
        const cache = new RankingCache();
        const slotted = new RankingCache();
        // One slot per Service, kept across the steps (the speaker's decoded Service).
        const slots = new Map<string, RankingSlot>();
        // A sequence of live sets: drops, and joins of nodes never seen before.
        const steps = picks.map((p, i) => {
          const live = w.live.filter((_, j) => (p >> j) & 1);
          return [...live, ...(extraNodes[i] ?? [])];
        });
        for (const live of steps) {
          const selected = (n: string) => w.selected.has(n) || n.startsWith('x');
          for (const { service, endpoints } of w.services) {
            const plain = layer2Owner(service, endpoints, { liveSpeakers: live, nodeSelected: selected });
            const cachedArray = layer2Owner(service, endpoints, { liveSpeakers: live, nodeSelected: selected, ranking: cache });
            const cachedSet = layer2Owner(service, endpoints, { liveSpeakers: new Set(live), nodeSelected: selected, ranking: cache });
            let slot = slots.get(service.key);
            if (!slot) slots.set(service.key, (slot = { ranking: undefined }));
            const cachedSlot = layer2Owner({ ...service, ranked: slot }, endpoints, { liveSpeakers: live, nodeSelected: selected, ranking: slotted });
            expect(cachedArray).toEqual(plain);
            expect(cachedSet).toEqual(plain);
            expect(cachedSlot).toEqual(plain);
            expect(slotted.size).toBe(0); // kept in the slots, not per VIP
            for (const self of live) {
              const a = layer2Decision(service, endpoints, { liveSpeakers: live, nodeSelected: selected, self, fenced: false });
              const b = layer2Decision(service, endpoints, { liveSpeakers: live, nodeSelected: selected, self, fenced: false, ranking: cache });
              expect(b).toBe(a);
            }
          }
        }
      }),
    );
  });

  it('hashes once per VIP while the set of known nodes does not grow, and forgets churned nodes', () => {
    const cache = new RankingCache();
    const first = cache.rank('192.0.2.10', ['a', 'b', 'c']);
    expect(cache.rank('192.0.2.10', ['a', 'c'])).toBe(first); // a node died: same cached ranking
    expect(cache.rank('192.0.2.10', ['a', 'b', 'c', 'd'])).not.toBe(first); // a new node: re-ranked
    expect(cache.rank('192.0.2.10', ['a', 'b', 'c', 'd'])).toEqual(rankSpeakers(['a', 'b', 'c', 'd'], '192.0.2.10'));
    for (let i = 0; i < 50; i++) cache.rank('192.0.2.10', [`churn-${i}`]);
    expect(cache.rank('192.0.2.10', ['z']).length).toBeLessThan(20);
    cache.forgetVip('192.0.2.10');
    expect(cache.size).toBe(0);
  });

  it('with a slot: the ranking is kept there (no entry per VIP), reused while current, ranked again once a new node makes it stale', () => {
    const cache = new RankingCache();
    const slot: RankingSlot = { ranking: undefined };
    const first = cache.rank('192.0.2.10', ['a', 'b', 'c'], slot);
    expect(first).toEqual(rankSpeakers(['a', 'b', 'c'], '192.0.2.10'));
    expect(slot.ranking).toBe(first);
    expect(cache.size).toBe(0);
    expect(cache.rank('192.0.2.10', ['a', 'c'], slot)).toBe(first); // a node died: the kept ranking
    // Another Service on another VIP with the same order shares the array.
    const other: RankingSlot = { ranking: undefined };
    const vip = ['192.0.2.11', '192.0.2.12', '192.0.2.13', '192.0.2.14', '192.0.2.15', '192.0.2.16', '192.0.2.17'].find((v) => rankSpeakers(['a', 'b', 'c'], v).join() === first.join()) as string;
    expect(cache.rank(vip, ['a', 'b', 'c'], other)).toBe(first);
    const next = cache.rank('192.0.2.10', ['a', 'b', 'c', 'd'], slot); // a new node: stale, ranked again
    expect(next).toEqual(rankSpeakers(['a', 'b', 'c', 'd'], '192.0.2.10'));
    expect(slot.ranking).toBe(next);
    expect(cache.rank(vip, ['a', 'b', 'c', 'd'], other)).toEqual(rankSpeakers(['a', 'b', 'c', 'd'], vip));
    expect(other.ranking).not.toBe(first);
    cache.clear();
    const again = cache.rank('192.0.2.10', ['a'], slot);
    expect(again).toEqual(['a']);
    expect(cache.size).toBe(0);
  });
});

function ownerHash(node: string, seed: number): string {
  return createHash('sha256').update(`${seed}/${node}`).digest('hex');
}
