// Layer2 ownership while speakers join, on one manual clock: each speaker's liveness state machine
// (swim.ts) and gate (liveness-gate.ts) wired as speaker.ts wires them, its layer2 decision
// (layer2Decision) taken every millisecond, datagrams delivered in 1 ms. What is checked is the
// number of speakers answering for one VIP at each millisecond: never two, and none only briefly.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';
import { Swim } from '../../../protocols/liveness/swim.js';
import { layer2Decision, rankSpeakers } from '../../../speaker/layer2-owner.js';
import { LivenessGate } from '../../../speaker/liveness-gate.js';
import type { EndpointsView, ServiceView } from '../../../speaker/service-view.js';

const TIMING = { periodMs: 200, probeTimeoutMs: 80, suspicionMs: 400, indirect: 2 };
const EPS: EndpointsView = { readyByNode: new Map([['x', 1]]) };

/** A VIP for which `nodes` rank in exactly this order (first = preferred). */
function vipRanking(nodes: string[]): string {
  for (let i = 1; i < 20_000; i++) {
    const vip = `2001:db8::${i.toString(16)}`;
    if (rankSpeakers(nodes, vip).join() === nodes.join()) return vip;
  }
  throw new Error('no VIP found');
}

interface SimNode {
  swim: Swim;
  gate: LivenessGate;
  /** Lease-live speakers as this one sees them (itself included). */
  live: Set<string>;
  announcing: boolean;
}

/** Speakers on a manual clock; `rule`: claims wait for the peer they take the VIP from (mayClaimFrom). */
function cluster(rule = true) {
  const clock = new ManualClock();
  const nodes = new Map<string, SimNode>();
  const down = new Set<string>();
  /** Life of each node's Lease (acquireTime), as every speaker sees it. */
  const life = new Map<string, number>();
  const make = (self: string, members: string[]): SimNode => {
    const swim = new Swim({
      ...TIMING,
      clock,
      self,
      send: (to, m) => {
        if (down.has(self)) return;
        clock.setTimeout(() => {
          if (!down.has(to)) nodes.get(to)?.swim.receive(m);
        }, 1);
      },
    });
    const gate = new LivenessGate(clock, self, { claimHoldMs: TIMING.periodMs + TIMING.suspicionMs, askEveryMs: TIMING.periodMs });
    // As speaker.ts: verdicts, joining, answers and asks.
    swim.onChange((c) => {
      if (c.state === 'dead') gate.declaredDead(c.name, life.get(c.name));
    });
    swim.onJoining((name, joining) => gate.setJoining(name, joining));
    swim.onAnswer((name) => gate.answered(name));
    gate.setAsk((name) => void swim.ask(name));
    for (const m of members) swim.addMember(m, false);
    const n: SimNode = { swim, gate, live: new Set([self, ...members]), announcing: false };
    nodes.set(self, n);
    return n;
  };
  /** Which running speakers answer for `service` now (each decides as the speaker does). */
  const decide = (service: ServiceView): string[] => {
    const out: string[] = [];
    for (const [self, n] of nodes) {
      if (down.has(self) || !running.has(self)) continue;
      const d = layer2Decision(service, EPS, {
        self,
        fenced: n.gate.isFencedByVerdict(),
        liveSpeakers: n.gate.owners(n.live),
        nodeSelected: () => true,
        announcing: () => n.announcing,
        mayClaimFrom: rule ? (node) => n.gate.mayClaimFrom(node) : undefined,
      });
      n.announcing = d === null;
      if (n.announcing) out.push(self);
    }
    return out;
  };
  const running = new Set<string>();
  const start = (name: string): void => {
    running.add(name);
    nodes.get(name)?.swim.start();
  };
  /** Advances `ms`, deciding every millisecond; returns the answerers per millisecond. */
  const run = (service: ServiceView, ms: number): string[][] => {
    const out: string[][] = [];
    for (let i = 0; i < ms; i++) {
      clock.advance(1);
      out.push(decide(service));
    }
    return out;
  };
  return { clock, nodes, down, life, make, start, run, running };
}

const svc = (vip: string): ServiceView => ({ key: 'ns/web', ips: [vip], pool: 'p', externalTrafficPolicy: 'Cluster' });

describe('layer2 ownership while speakers join (liveness-gate.ts: claims; swim.ts: verdicts told)', () => {
  it('a Service created while a node joins: the joiner claims it once the node it takes it from answered, so never two answer and none for over a few ms', () => {
    const results: Record<string, { overlapMs: number; silentMs: number; final: string[] }> = {};
    for (const rule of [true, false]) {
      const c = cluster(rule);
      c.make('a', ['b']);
      c.make('b', ['a']);
      c.start('a');
      c.start('b');
      c.clock.advance(1000);
      // j's Lease appears (a new node): a and b see it at once, it starts its liveness 300 ms later (its first renewal).
      for (const n of ['a', 'b']) {
        c.nodes.get(n)?.live.add('j');
        c.nodes.get(n)?.swim.addMember('j');
      }
      c.make('j', ['a', 'b']);
      const vip = vipRanking(['j', 'a', 'b']);
      const before = c.run(svc(vip), 300); // the Service is created as j's Lease appears
      c.start('j');
      const after = c.run(svc(vip), 3000);
      const all = [...before, ...after];
      results[String(rule)] = { overlapMs: all.filter((x) => x.length > 1).length, silentMs: all.filter((x) => x.length === 0).length, final: all[all.length - 1] ?? [] };
      // Before j runs, a (the owner without j) answers: j is joining, no VIP for it yet.
      expect(before.slice(5).every((x) => x.join() === 'a')).toBe(true);
    }
    // With the rule: one answerer at every millisecond but a few, j in the end.
    expect(results.true).toEqual({ overlapMs: 0, silentMs: expect.any(Number) as number, final: ['j'] });
    expect(results.true?.silentMs).toBeLessThanOrEqual(5);
    // Without it, j and a both answer until a hears j (its first probe, a period later, or gossip).
    expect(results.false?.overlapMs).toBeGreaterThan(50);
  });

  it('joins at other sizes and timings (the Service before, at or after the joiner starts, any joiner rank, one peer slow to see its Lease): never two answerers, and none for at most a few ms once the joiner runs', () => {
    for (const size of [3, 5]) {
      for (const createdMs of [0, 250, 400]) {
        for (const rank of [0, 1]) {
          const c = cluster();
          const olds = Array.from({ length: size - 1 }, (_, i) => `n${i}`);
          for (const n of olds) c.make(n, olds.filter((x) => x !== n));
          for (const n of olds) c.start(n);
          c.clock.advance(1000);
          // n0 sees the joiner's Lease 150 ms after the others (a lagging watch).
          const sees = (n: string): void => {
            c.nodes.get(n)?.live.add('j');
            c.nodes.get(n)?.swim.addMember('j');
          };
          for (const n of olds.slice(1)) sees(n);
          c.make('j', olds);
          const order = rank === 0 ? ['j', ...olds] : [olds[0] as string, 'j', ...olds.slice(1)];
          const service = svc(vipRanking(order));
          const none: ServiceView = { key: 'ns/none', ips: [], pool: 'p', externalTrafficPolicy: 'Cluster' };
          // From the joiner's Lease (0): n0 sees it at 150 ms, the Service is created at createdMs, the joiner starts at 300 ms.
          const before: string[][] = [];
          for (let t = 0; t < 300; t++) {
            if (t === 150) sees('n0');
            before.push(...c.run(t >= createdMs ? service : none, 1));
          }
          c.start('j');
          const after: string[][] = [];
          for (let t = 300; t < 3300; t++) after.push(...c.run(t >= createdMs ? service : none, 1));
          const decided = after.slice(Math.max(0, createdMs - 300));
          const where = `size ${size}, created at ${createdMs} ms, joiner rank ${rank}`;
          expect([...before, ...after].filter((x) => x.length > 1).length, where).toBe(0);
          expect(decided.filter((x) => x.length === 0).length, where).toBeLessThanOrEqual(5);
          expect(after.at(-1), where).toEqual([order[0]]);
        }
      }
    }
  });

  it('a speaker restarting while a peer is dead but its Lease still live: told the death by the first peer that hears it, it takes the VIP within a few ms of the others counting it (not after its 10 s grace)', () => {
    const c = cluster();
    const all = ['a', 'b', 'c', 'd', 'j'];
    for (const n of all) c.make(n, all.filter((x) => x !== n));
    for (const n of all) c.start(n);
    for (const n of all) c.life.set(n, 1);
    const vip = vipRanking(['d', 'j', 'a', 'b', 'c']);
    c.run(svc(vip), 1000);
    // d crashes (its Lease stays live for its duration); j restarts.
    c.down.add('d');
    c.down.add('j');
    c.running.delete('j');
    const crashed = c.run(svc(vip), 2000);
    expect(c.nodes.get('a')?.swim.state('d')).toBe('dead');
    expect(crashed[crashed.length - 1]).toEqual(['a']); // d and j dead: a ranks next
    // j's new life: the others see its new Lease (joining again); its new process knows d's live Lease.
    for (const n of ['a', 'b', 'c']) {
      c.nodes.get(n)?.gate.leaseChanged('j', 2);
      c.nodes.get(n)?.swim.rejoin('j');
    }
    c.life.set('j', 2);
    c.down.delete('j');
    c.make('j', ['a', 'b', 'c', 'd']);
    c.start('j');
    const after = c.run(svc(vip), 5000);
    expect(after.filter((x) => x.length > 1).length).toBe(0);
    expect(after.filter((x) => x.length === 0).length).toBeLessThanOrEqual(5);
    expect(after[after.length - 1]).toEqual(['j']);
    const j = c.nodes.get('j') as SimNode;
    expect(j.swim.state('d')).toBe('dead');
    // j took it within about a period of its start (its first exchange with a peer), well before its grace of 10 s.
    const takenAt = after.findIndex((x) => x.join() === 'j');
    expect(takenAt).toBeLessThanOrEqual(2 * TIMING.periodMs + 20);
    expect(j.swim.counts.suspicions).toBe(0); // d's death came as a verdict, not from its own probes
  });
});
