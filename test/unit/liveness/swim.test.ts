// SWIM on one manual clock: N members exchanging sealed datagrams through a simulated network (1 ms
// latency, a drop rule for partitions), so every message also passes the codec, the MAC check and
// the wire's version and replay rules (wire.ts). Members named in `old` read and send version 1
// only, as speakers from before version 2 did: a rolling upgrade mixes both.
import { describe, expect, it } from 'vitest';
import { ManualClock, type Clock, type TimerHandle } from '../../../protocols/clock.js';
import { VERSIONS, type Message, type WireVersion } from '../../../protocols/liveness/message.js';
import { GossipQueue, Swim, type SwimChange } from '../../../protocols/liveness/swim.js';
import { LivenessWire, type WireDropReason } from '../../../protocols/liveness/wire.js';

const SECRET = Buffer.from('test secret, 16 bytes or more');
const EPOCH = Date.UTC(2026, 11, 6); // the members' wall clock at manual time 0 (stamps)
const TIMING = { periodMs: 200, probeTimeoutMs: 80, suspicionMs: 400, indirect: 2 };

/**
 * One member's view of the shared clock that can be frozen like a SIGSTOPped process: its timers
 * and deliveries wait, and on resume the deliveries run first (libuv reads queued I/O before timers).
 */
class FreezableClock implements Clock {
  frozen = false;
  private readonly io: Array<() => void> = [];
  private readonly timers: Array<{ fn: () => void; cancelled: boolean }> = [];
  constructor(private readonly base: ManualClock) {}
  now(): number {
    return this.base.now();
  }
  setTimeout(fn: () => void, ms: number): TimerHandle {
    const t = { fn, cancelled: false, handle: undefined as TimerHandle | undefined };
    t.handle = this.base.setTimeout(() => (this.frozen ? this.timers.push(t) : t.cancelled || fn()), ms);
    return t;
  }
  clearTimeout(handle: TimerHandle): void {
    const t = handle as { cancelled: boolean; handle: TimerHandle };
    t.cancelled = true;
    this.base.clearTimeout(t.handle);
  }
  /** A datagram arriving for this member (queued while frozen). */
  deliver(fn: () => void): void {
    if (this.frozen) this.io.push(fn);
    else fn();
  }
  resume(): void {
    this.frozen = false;
    for (const fn of this.io.splice(0)) fn();
    for (const t of this.timers.splice(0)) if (!t.cancelled) t.fn();
  }
}

/**
 * `old` members read and send version 1 only; `opts.v2` members read versions 1 and 2 (as before
 * version 3); the others read up to `opts.newest` (default 2, as before version 3) and advertise it.
 */
function net(n: number, seed = 1, old: ReadonlySet<string> = new Set(), opts: { newest?: WireVersion; v2?: ReadonlySet<string>; stallSample?: number } = {}) {
  const newest = opts.newest ?? 2;
  const clock = new ManualClock();
  const clocks = new Map<string, FreezableClock>();
  let s = seed;
  const random = (): number => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
  const names = Array.from({ length: n }, (_, i) => `node${i + 1}`);
  const down = new Set<string>(); // processes that neither send nor receive (killed or frozen)
  let cut: ((from: string, to: string) => boolean) | undefined;
  const changes = new Map<string, SwimChange[]>();
  let dropped = 0;
  const drops: WireDropReason[] = [];
  let bytes = 0;
  const sentVersions = new Map<WireVersion, number>();
  /** Every message sent (by processes not down, past the cut), when `recording`. */
  const sent: Array<{ at: number; from: string; to: string; type: string; target: string; selfNews: boolean }> = [];
  let recording = false;
  const nodes = new Map<string, Swim>();
  const wires = new Map<string, LivenessWire>();
  for (const name of names) clocks.set(name, new FreezableClock(clock));
  const oldNow = new Set(old);
  const v2Now = new Set(opts.v2);
  const versionsOf = (name: string): WireVersion[] => (oldNow.has(name) ? [1] : v2Now.has(name) ? [1, 2] : VERSIONS.filter((v) => v <= newest));
  const makeWire = (name: string): LivenessWire => {
    const wire = new LivenessWire({ secret: SECRET, self: name, versions: versionsOf(name), wallNow: () => EPOCH + clock.now() });
    // Each peer as its Lease shows it: an old speaker advertises no version.
    for (const peer of names) if (peer !== name) wire.setPeer(peer, Math.max(...versionsOf(peer)) as WireVersion);
    return wire;
  };
  /**
   * `name` restarts into version 2 (a new wire: no state), and the others see its Lease advertise it
   * `leaseSeenMs` later (until then they send it what it spoke before: version 1).
   */
  const upgrade = (name: string, leaseSeenMs: number): void => {
    oldNow.delete(name);
    v2Now.delete(name);
    wires.set(name, makeWire(name));
    clock.setTimeout(() => {
      for (const [peer, w] of wires) if (peer !== name) w.setPeer(name, newest);
    }, leaseSeenMs);
  };
  for (const name of names) {
    wires.set(name, makeWire(name));
    const swim = new Swim({
      ...TIMING,
      ...(opts.stallSample !== undefined ? { stallSample: opts.stallSample } : {}),
      clock: clocks.get(name) as FreezableClock,
      self: name,
      random,
      send: (to, m) => {
        if (down.has(name) || cut?.(name, to)) return;
        if (recording) sent.push({ at: clock.now(), from: name, to, type: m.type, target: m.target, selfNews: m.updates.some((u) => u.name === to && u.state !== 'alive') });
        const datagram = (wires.get(name) as LivenessWire).seal(to, m);
        bytes += datagram.length;
        const v = datagram[2] as WireVersion;
        sentVersions.set(v, (sentVersions.get(v) ?? 0) + 1);
        clock.setTimeout(() => {
          if (down.has(to)) return;
          clocks.get(to)?.deliver(() => {
            const opened = wires.get(to)?.open(datagram);
            if (opened?.ok) return nodes.get(to)?.receive(opened.datagram.message);
            dropped++;
            if (opened) drops.push(opened.reason);
          });
        }, 1);
      },
    });
    swim.setMembers(names);
    const list: SwimChange[] = [];
    changes.set(name, list);
    swim.onChange((c) => list.push(c));
    nodes.set(name, swim);
  }
  for (const swim of nodes.values()) swim.start();
  const node = (name: string): Swim => nodes.get(name) as Swim;
  const freezable = (name: string): FreezableClock => clocks.get(name) as FreezableClock;
  return { clock, names, nodes, node, down, changes, freezable, upgrade, setCut: (f: typeof cut) => (cut = f), record: (on: boolean) => (recording = on), sent, stats: () => ({ dropped, drops, bytes, sentVersions }) };
}

/** Advance in 1 ms steps until `pred`, returning the elapsed ms (or throwing after `limit`). */
function until(clock: ManualClock, pred: () => boolean, limit = 10_000): number {
  const t0 = clock.now();
  while (!pred()) {
    if (clock.now() - t0 > limit) throw new Error(`not within ${limit} ms`);
    clock.advance(1);
  }
  return clock.now() - t0;
}

describe('SWIM failure detection', () => {
  it('a healthy cluster has no suspicion for a minute of simulated time', () => {
    const c = net(5);
    c.clock.advance(60_000);
    for (const name of c.names) expect(c.changes.get(name)).toEqual([]);
    for (const name of c.names) expect(c.node(name).hasQuorum()).toBe(true);
  });

  it('a killed member is suspected, then declared dead by every other member, within about a second', () => {
    const times: number[] = [];
    for (let seed = 1; seed <= 20; seed++) {
      const c = net(3, seed);
      c.clock.advance(1000 + seed * 7);
      c.down.add('node2');
      times.push(until(c.clock, () => ['node1', 'node3'].every((n) => c.node(n).state('node2') === 'dead')));
      expect(c.changes.get('node1')?.map((x) => x.state)).toEqual(['suspect', 'dead']);
    }
    times.sort((a, b) => a - b);
    const median = times[Math.floor(times.length / 2)] ?? Infinity;
    // Bounds from the timing: a probe within ~2 periods, then the suspicion time.
    expect(median).toBeLessThanOrEqual(TIMING.periodMs * 2 + TIMING.suspicionMs + 50);
    expect(times[times.length - 1]).toBeLessThanOrEqual(TIMING.periodMs * 4 + TIMING.suspicionMs + 50);
  });

  it('a suspicion ends when the member is heard again; a suspected member refutes with a higher incarnation', () => {
    const c = net(3);
    c.clock.advance(1000);
    c.setCut((from, to) => from === 'node2' || to === 'node2');
    until(c.clock, () => c.node('node1').state('node2') === 'suspect' || c.node('node3').state('node2') === 'suspect');
    c.setCut(undefined);
    c.clock.advance(2000);
    for (const n of ['node1', 'node3']) expect(c.node(n).state('node2')).toBe('alive');
    expect(c.node('node1').dead()).toEqual([]);
    // The refutation itself: told it is suspected at its incarnation, node2 gossips alive at a higher one.
    const seen: SwimChange[] = [];
    c.node('node2').onChange((x) => seen.push(x));
    const before = c.node('node2').counts.refutations;
    c.node('node2').receive({ type: 'ping', seq: 99, incarnation: 0, from: 'node1', target: 'node2', updates: [{ name: 'node2', state: 'suspect', incarnation: 1000 }] });
    expect(c.node('node2').counts.refutations).toBe(before + 1);
    expect(seen).toEqual([{ name: 'node2', state: 'suspect' }]);
    c.node('node3').receive({ type: 'ack', seq: 1, incarnation: 0, from: 'node1', target: 'node1', updates: [{ name: 'node2', state: 'suspect', incarnation: 1000 }] });
    expect(c.node('node3').state('node2')).toBe('suspect');
    c.clock.advance(300); // node2's gossip (alive, incarnation 1) reaches node3 before its suspicion ends
    expect(c.node('node3').state('node2')).toBe('alive');
  });

  it('a frozen member (SIGSTOP) is declared dead; when it resumes it stays dead and learns it, until its Lease shows a new life', () => {
    const c = net(3);
    c.clock.advance(1000);
    c.down.add('node2');
    until(c.clock, () => c.node('node1').state('node2') === 'dead' && c.node('node3').state('node2') === 'dead');
    const told: SwimChange[] = [];
    c.node('node2').onChange((x) => x.name === 'node2' && told.push(x));
    c.down.delete('node2');
    c.clock.advance(2000);
    expect(c.node('node1').state('node2')).toBe('dead');
    expect(told.map((x) => x.state)).toContain('dead');
    for (const n of ['node1', 'node3']) c.node(n).setMembers(c.names, ['node2']);
    c.clock.advance(2000);
    for (const n of ['node1', 'node3']) expect(c.node(n).state('node2')).toBe('alive');
  });

  it('a process resumed after a freeze is stalled until a peer answers a request sent after it; the answer carries its death first', () => {
    const c = net(3);
    c.clock.advance(1000);
    const events: string[] = [];
    c.node('node2').onStall((stalled, gap) => events.push(stalled ? `stall ${gap}` : 'stall ended'));
    c.node('node2').onChange((x) => x.name === 'node2' && events.push(`self ${x.state}`));
    c.freezable('node2').frozen = true;
    until(c.clock, () => c.node('node1').state('node2') === 'dead' && c.node('node3').state('node2') === 'dead');
    const frozenFor = c.clock.now() - 1000;
    // Resumed: the queued datagrams (pings from before its death, gossip suspecting it) are read
    // first; they refute the suspicion (a higher incarnation) but end no stall.
    c.freezable('node2').resume();
    expect(c.node('node2').stalled).toBe(true);
    expect(events[0]).toMatch(/^stall \d+/);
    expect(Number(events[0]?.split(' ')[1])).toBeGreaterThanOrEqual(frozenFor - 60);
    // Its next ping is answered with its death (at the incarnation it states now, so the refutation
    // does not hide it), applied before the stall ends.
    until(c.clock, () => !c.node('node2').stalled, 1000);
    // Every member was asked; each answered with its verdict (dead) before the stall ended.
    const ended = events.indexOf('stall ended');
    expect(ended).toBeGreaterThan(0);
    expect(events.slice(1, ended).filter((e) => e === 'self dead')).toHaveLength(2);
    // Stalled, it suspected nobody.
    expect(c.node('node2').dead()).toEqual([]);
  });

  it('a short pause is no stall; a stall with nobody left to answer ends at once', () => {
    const c = net(3);
    c.clock.advance(1000);
    c.freezable('node2').frozen = true;
    c.clock.advance(TIMING.suspicionMs - 100);
    c.freezable('node2').resume();
    expect(c.node('node2').stalled).toBe(false);
    const alone = new Swim({ ...TIMING, clock: c.clock, self: 'solo', send: () => undefined });
    alone.start();
    c.clock.advance(100);
    (c.clock as unknown as { current: number }).current += 5000; // not run for 5 s
    alone.awake();
    expect(alone.stalled).toBe(false);
    alone.stop();
  });

  it('indirect probes: a member one peer cannot reach directly is not suspected', () => {
    const c = net(4);
    c.setCut((from, to) => (from === 'node1' && to === 'node2') || (from === 'node2' && to === 'node1'));
    c.clock.advance(30_000);
    expect(c.node('node1').state('node2')).toBe('alive');
    expect(c.node('node1').counts.suspicions).toBe(0);
  });

  it('partition: the cut-off member loses quorum before the majority declares it dead, and suspects nobody', () => {
    const c = net(5);
    c.clock.advance(2000);
    const t0 = c.clock.now();
    const isolated = 'node5';
    c.setCut((from, to) => from === isolated || to === isolated);
    const noQuorumAt = until(c.clock, () => !c.node(isolated).hasQuorum());
    const deadAt = until(c.clock, () => c.names.filter((n) => n !== isolated).every((n) => c.node(n).state(isolated) === 'dead')) + noQuorumAt;
    expect(noQuorumAt).toBeLessThan(deadAt);
    c.clock.advance(5000);
    // It never declared the majority dead, and the majority keeps its quorum.
    expect(c.node(isolated).dead()).toEqual([]);
    for (const n of c.names.filter((x) => x !== isolated)) expect(c.node(n).hasQuorum()).toBe(true);
    expect(c.clock.now() - t0).toBeGreaterThan(0);
    // Healed: it is heard again and counts as alive (a new message proves life), and the probes it
    // lost while cut off start no suspicion (the others hold it dead and would not hear a refutation).
    const suspicions = c.node(isolated).counts.suspicions;
    c.setCut(undefined);
    c.clock.advance(3000);
    expect(c.node(isolated).hasQuorum()).toBe(true);
    expect(c.node(isolated).counts.suspicions).toBe(suspicions);
    expect(c.node(isolated).dead()).toEqual([]);
  });

  it('recheck after a partition heals: the cut-off member asks everyone (fewer members than stallSample), is stalled until they answered, and learns its death first', () => {
    const c = net(3);
    c.clock.advance(1000);
    const isolated = 'node3';
    const events: string[] = [];
    c.node(isolated).onStall((stalled, gap) => events.push(stalled ? `recheck ${gap}` : 'recheck ended'));
    c.node(isolated).onChange((x) => x.name === isolated && events.push(`self ${x.state}`));
    c.setCut((from, to) => from === isolated || to === isolated);
    until(c.clock, () => c.node('node1').state(isolated) === 'dead' && c.node('node2').state(isolated) === 'dead');
    // Still cut off: a recheck finds nobody to answer and ends after periodMs + suspicionMs.
    c.node(isolated).recheck();
    expect(c.node(isolated).stalled).toBe(true);
    const alone = until(c.clock, () => !c.node(isolated).stalled);
    expect(alone).toBe(TIMING.periodMs + TIMING.suspicionMs);
    expect(events).toEqual(['recheck 0', 'recheck ended']);
    // Healed: the next recheck ends only once both answered, each with its verdict (dead) first.
    c.setCut(undefined);
    c.node(isolated).recheck();
    until(c.clock, () => !c.node(isolated).stalled, 100);
    expect(events.slice(2)).toEqual(['recheck 0', 'self dead', 'self dead', 'recheck ended']);
    expect(c.node(isolated).counts.stalls).toBe(0); // a recheck is no stall
  });

  it('a member whose Lease shows a new life is alive again; members gone from the Leases are forgotten', () => {
    const c = net(3);
    c.clock.advance(1000);
    c.down.add('node3');
    until(c.clock, () => c.node('node1').state('node3') === 'dead');
    c.down.delete('node3');
    c.node('node1').setMembers(c.names, ['node3']);
    expect(c.node('node1').state('node3')).toBe('alive');
    c.node('node1').setMembers(['node1', 'node2']);
    expect(c.node('node1').state('node3')).toBeUndefined();
  });

  it('traffic per member does not grow with the cluster size, and state stays bounded', () => {
    const perNode = (n: number): number => {
      const c = net(n);
      c.clock.advance(10_000);
      const { bytes } = c.stats();
      for (const name of c.names) {
        expect(c.node(name).pending.probes).toBeLessThanOrEqual(4 * n);
        expect(c.node(name).pending.gossip).toBeLessThanOrEqual(n);
      }
      return bytes / n / 10; // bytes/s sent per node
    };
    const small = perNode(3);
    const large = perNode(40);
    expect(large).toBeLessThan(small * 1.5);
    expect(large).toBeLessThan(1000);
  });

  it('a stopped member (a fenced speaker) answers and learns nothing: every message is ignored and counted; the others declare it dead', () => {
    const c = net(3);
    c.clock.advance(1000);
    const silent = c.node('node2');
    silent.stop();
    const sent = silent.counts.sent;
    const received = silent.counts.received;
    // Directly: a ping (no ack), a suspicion of itself (no refutation), a verdict on a peer (not applied).
    silent.receive({ type: 'ping', seq: 7, incarnation: 0, from: 'node1', target: 'node2', updates: [{ name: 'node2', state: 'suspect', incarnation: 0 }] });
    silent.receive({ type: 'pingReq', seq: 8, incarnation: 0, from: 'node1', target: 'node3', updates: [{ name: 'node3', state: 'dead', incarnation: 5 }] });
    expect(silent.counts.ignoredStopped).toBe(2);
    expect(silent.counts.refutations).toBe(0);
    expect(silent.state('node3')).toBe('alive');
    // Over the network: the others' probes go unanswered, so they declare it dead.
    until(c.clock, () => c.node('node1').state('node2') === 'dead' && c.node('node3').state('node2') === 'dead');
    expect(silent.counts.sent).toBe(sent);
    expect(silent.counts.received).toBe(received);
    expect(silent.counts.ignoredStopped).toBeGreaterThan(2);
    expect(c.changes.get('node2')).toEqual([]);
    // Started again (unfenced), it answers: the first answer it gets tells it it was declared dead.
    silent.start();
    until(c.clock, () => (c.changes.get('node2') ?? []).some((x) => x.name === 'node2' && x.state === 'dead'), 1000);
    expect(silent.counts.received).toBeGreaterThan(received);
  });

  it('indirect probes go to alive members only, also when most members are dead (sampling falls back to the scan)', () => {
    const clock = new ManualClock();
    const sent: Array<{ to: string; type: string; target: string }> = [];
    const names = Array.from({ length: 20 }, (_, i) => `n${String(i).padStart(2, '0')}`);
    const swim = new Swim({ ...TIMING, clock, self: 'n00', send: (to, m) => void sent.push({ to, type: m.type, target: m.target }) });
    swim.setMembers(names);
    swim.start();
    // n01 tells us n03..n19 are dead, 8 updates a message: n01 and n02 stay alive.
    const dead = names.slice(3);
    for (let i = 0; i < dead.length; i += 8) {
      swim.receive({ type: 'ack', seq: 0, incarnation: 0, from: 'n01', target: '', updates: dead.slice(i, i + 8).map((name) => ({ name, state: 'dead' as const, incarnation: 0 })) });
    }
    expect(swim.dead()).toEqual(dead);
    for (let t = 0; t < 10 * TIMING.periodMs; t++) {
      clock.advance(1);
      for (const s of sent.filter((x) => x.type === 'pingReq')) expect(['n01', 'n02']).toContain(s.to);
    }
    const reqs = sent.filter((x) => x.type === 'pingReq');
    expect(reqs.length).toBeGreaterThan(0);
    for (const r of reqs) expect(r.to).not.toBe(r.target);
    swim.stop();
  });

  it('a member not started yet ignores messages too', () => {
    const idle = new Swim({ ...TIMING, clock: new ManualClock(), self: 'a', send: () => expect.fail('a member not started sends nothing') });
    idle.setMembers(['a', 'b']);
    idle.receive({ type: 'ping', seq: 1, incarnation: 0, from: 'b', target: 'a', updates: [] });
    expect(idle.counts).toMatchObject({ received: 0, sent: 0, ignoredStopped: 1 });
  });

  it('messages from non-members are ignored', () => {
    const c = net(2);
    c.node('node1').receive({ type: 'ping', seq: 1, incarnation: 0, from: 'stranger', target: 'node1', updates: [{ name: 'node2', state: 'dead', incarnation: 9 }] });
    expect(c.node('node1').state('node2')).toBe('alive');
    expect(c.node('node1').counts.received).toBe(0);
  });
});

/**
 * The members that, while `who` was stalled ([from, to]), pinged it or told it it was suspect or dead:
 * the stall check asks each of them (swim.ts header). Delivered 1 ms after sending.
 */
function requesters(c: ReturnType<typeof net>, who: string, from: number, to: number): Set<string> {
  return new Set(c.sent.filter((x) => x.to === who && x.at + 1 <= to && x.at >= from - 1 && ((x.type === 'ping' && x.target === who) || x.selfNews)).map((x) => x.from));
}

/** The members `who` pinged in [from, to]. */
function pinged(c: ReturnType<typeof net>, who: string, from: number, to: number): Set<string> {
  return new Set(c.sent.filter((x) => x.from === who && x.type === 'ping' && x.at >= from && x.at <= to).map((x) => x.to));
}

/**
 * `seeds` stalls of `gap` ms of node2 among `n` members: how many ended with no member holding it dead
 * and yet one declared it dead within 3 s after (a death it learnt after answering again), and the
 * asks per stall.
 */
function rate(sample: number, gap: number, seeds: number, n = 40): { lateDeaths: number; learntLate: number; asks: number } {
  let lateDeaths = 0;
  let learntLate = 0;
  let asks = 0;
  for (let seed = 1; seed <= seeds; seed++) {
    const c = net(n, seed * 7, new Set(), { stallSample: sample });
    c.clock.advance(2000);
    const events: string[] = [];
    c.node('node2').onStall((st) => events.push(st ? 'stall' : 'ended'));
    c.node('node2').onChange((x) => x.name === 'node2' && x.state === 'dead' && events.push('dead'));
    c.freezable('node2').frozen = true;
    c.clock.advance(gap);
    const a = c.node('node2').counts.stallAsks;
    c.freezable('node2').resume();
    until(c.clock, () => !c.node('node2').stalled, 1000);
    asks += c.node('node2').counts.stallAsks - a;
    const heldAtEnd = c.names.some((n) => c.node(n).state('node2') === 'dead');
    c.clock.advance(3000);
    const ended = events.indexOf('ended');
    const deadBefore = events.slice(0, ended).includes('dead');
    if (!heldAtEnd && c.names.some((n) => c.node(n).state('node2') === 'dead')) lateDeaths++;
    if (!deadBefore && c.names.some((n) => c.node(n).state('node2') === 'dead')) learntLate++;
  }
  return { lateDeaths, learntLate, asks: asks / seeds };
}

describe('SWIM stall check (bounded: stallSample random members + those that pinged or suspected us while stalled)', () => {
  const SAMPLE = 6;

  it('a stall shorter than a verdict takes: asks the sample and every member whose ping it read while stalled, not all; no member declares it dead (the raised incarnation ends the suspicions)', () => {
    let suspectedAtResume = 0;
    for (let seed = 1; seed <= 8; seed++) {
      const c = net(40, seed, new Set(), { stallSample: SAMPLE });
      c.clock.advance(1990);
      c.record(true); // from before the freeze: a datagram sent just before it arrives during it
      c.clock.advance(10);
      const frozenAt = c.clock.now();
      c.freezable('node2').frozen = true;
      // Resumed before anyone could declare it dead (periodMs + suspicionMs = 600 ms).
      c.clock.advance(550);
      if (c.names.some((n) => c.node(n).state('node2') === 'suspect')) suspectedAtResume++;
      const asks = c.node('node2').counts.stallAsks;
      const resumedAt = c.clock.now();
      c.freezable('node2').resume();
      expect(c.node('node2').stalled).toBe(true);
      const endedAt = until(c.clock, () => !c.node('node2').stalled, 1000) + resumedAt;
      const req = requesters(c, 'node2', frozenAt, endedAt);
      const asked = c.node('node2').counts.stallAsks - asks;
      // Bounded: the sample plus the members that asked it; far fewer than the 39 members.
      expect(asked).toBeGreaterThanOrEqual(SAMPLE);
      expect(asked).toBeLessThanOrEqual(SAMPLE + req.size);
      expect(asked).toBeLessThan(39);
      // Every member that pinged it while frozen (the prober whose suspicion would become a verdict) was asked.
      const queued = requesters(c, 'node2', frozenAt, resumedAt);
      expect(queued.size).toBeGreaterThan(0);
      for (const r of queued) expect(pinged(c, 'node2', resumedAt, endedAt)).toContain(r);
      // The suspicions end everywhere (the raised incarnation's gossip): no member declares it dead.
      c.clock.advance(5000);
      for (const n of c.names) expect(c.node(n).state('node2')).not.toBe('dead');
      expect(c.changes.get('node2')?.filter((x) => x.state === 'dead')).toEqual([]);
    }
    // Most runs resumed with suspicions of it running (the case the raised incarnation is for).
    expect(suspectedAtResume).toBeGreaterThanOrEqual(4);
  });

  it('a fresh verdict (resumed when the first member declares it dead, few know it): that member pinged it while it was frozen, so it is asked and the verdict is learnt before the stall ends', () => {
    for (let seed = 1; seed <= 6; seed++) {
      const c = net(40, seed, new Set(), { stallSample: 4 });
      c.clock.advance(1990);
      c.record(true); // from before the freeze: a datagram sent just before it arrives during it
      c.clock.advance(10);
      const events: string[] = [];
      c.node('node2').onStall((stalled) => events.push(stalled ? 'stall' : 'stall ended'));
      c.node('node2').onChange((x) => x.name === 'node2' && events.push(`self ${x.state}`));
      c.freezable('node2').frozen = true;
      until(c.clock, () => c.names.some((n) => c.node(n).state('node2') === 'dead'), 5000);
      const holders = c.names.filter((n) => c.node(n).state('node2') === 'dead');
      expect(holders.length).toBeLessThan(5); // few hold it: 4 random asks would likely miss them
      c.freezable('node2').resume();
      until(c.clock, () => !c.node('node2').stalled, 1000);
      const ended = events.indexOf('stall ended');
      expect(events[0]).toBe('stall');
      expect(events.slice(1, ended)).toContain('self dead');
    }
  });

  it('an old verdict (frozen until every member holds it dead): learnt before the stall ends, from a bounded number of asks', () => {
    const c = net(40, 3, new Set(), { stallSample: SAMPLE });
    c.clock.advance(1990);
    c.record(true);
    c.clock.advance(10);
    const events: string[] = [];
    c.node('node2').onStall((stalled) => events.push(stalled ? 'stall' : 'stall ended'));
    c.node('node2').onChange((x) => x.name === 'node2' && events.push(`self ${x.state}`));
    const frozenAt = c.clock.now();
    c.freezable('node2').frozen = true;
    until(c.clock, () => c.names.every((n) => n === 'node2' || c.node(n).state('node2') === 'dead'), 10_000);
    c.clock.advance(3000);
    const asks = c.node('node2').counts.stallAsks;
    const resumedAt = c.clock.now();
    c.freezable('node2').resume();
    const endedAt = until(c.clock, () => !c.node('node2').stalled, 1000) + resumedAt;
    expect(events.slice(1, events.indexOf('stall ended'))).toContain('self dead');
    const asked = c.node('node2').counts.stallAsks - asks;
    expect(asked).toBeLessThanOrEqual(SAMPLE + requesters(c, 'node2', frozenAt, endedAt).size);
    expect(asked).toBeLessThan(39);
  });

  it('the heal case: a cut-off member rechecks with the sample only; still cut off it waits a period + the suspicion time; healed, it learns its (old) death before the recheck ends', () => {
    const c = net(40, 5, new Set(), { stallSample: SAMPLE });
    c.clock.advance(2000);
    const isolated = 'node7';
    const events: string[] = [];
    c.node(isolated).onStall((stalled, gap) => events.push(stalled ? `recheck ${gap}` : 'recheck ended'));
    c.node(isolated).onChange((x) => x.name === isolated && events.push(`self ${x.state}`));
    c.setCut((from, to) => from === isolated || to === isolated);
    until(c.clock, () => c.names.every((n) => n === isolated || c.node(n).state(isolated) === 'dead'), 10_000);
    let asks = c.node(isolated).counts.stallAsks;
    c.node(isolated).recheck();
    expect(until(c.clock, () => !c.node(isolated).stalled)).toBe(TIMING.periodMs + TIMING.suspicionMs);
    expect(c.node(isolated).counts.stallAsks - asks).toBe(SAMPLE);
    expect(events).toEqual(['recheck 0', 'recheck ended']);
    c.setCut(undefined);
    asks = c.node(isolated).counts.stallAsks;
    c.node(isolated).recheck();
    until(c.clock, () => !c.node(isolated).stalled, 100);
    const ended = events.lastIndexOf('recheck ended');
    expect(events.slice(2, ended)).toContain('self dead');
    expect(events[2]).toBe('recheck 0');
    // Nobody pings a member it holds dead, so no request adds to the sample here.
    expect(c.node(isolated).counts.stallAsks - asks).toBe(SAMPLE);
    expect(c.node(isolated).counts.stalls).toBe(0);
  });

  it('stalls of 450 ms to 1 s at 40 members asking 6: no member declares it dead after its stall ended (the suspicions told are retraced by the refutation)', () => {
    for (const gap of [450, 550, 700, 1000]) {
      const r = rate(SAMPLE, gap, 10);
      expect(r.lateDeaths).toBe(0);
      expect(r.learntLate).toBe(0);
      expect(r.asks).toBeLessThan(39);
    }
  });

  it('the quorum is not reported while stalled: a pause alone loses none; a pause in a partition reports the loss when the stall ends, before the end is heard', () => {
    const c = net(5);
    c.clock.advance(2000);
    const events: string[] = [];
    c.node('node2').onQuorumChange((q) => events.push(`quorum ${q}`));
    c.node('node2').onStall((stalled) => events.push(stalled ? 'stall' : 'stall ended'));
    c.freezable('node2').frozen = true;
    c.clock.advance(1000);
    c.freezable('node2').resume();
    until(c.clock, () => !c.node('node2').stalled, 1000);
    c.clock.advance(1000);
    expect(events).toEqual(['stall', 'stall ended']);
    // Frozen, then resumed cut off: nobody answers the check; the loss is reported as it ends.
    events.length = 0;
    c.freezable('node2').frozen = true;
    c.setCut((from, to) => from === 'node2' || to === 'node2');
    c.clock.advance(1000);
    c.freezable('node2').resume();
    until(c.clock, () => !c.node('node2').stalled, 1000);
    expect(events).toEqual(['stall', 'quorum false', 'stall ended']);
  });

  it('stallSample and stallAsksPerTurn must be positive integers', () => {
    const clock = new ManualClock();
    for (const stallSample of [0, -1, 1.5, Number.NaN]) expect(() => new Swim({ ...TIMING, clock, self: 'a', send: () => undefined, stallSample })).toThrow(/stallSample/);
    for (const stallAsksPerTurn of [0, 2.5]) expect(() => new Swim({ ...TIMING, clock, self: 'a', send: () => undefined, stallAsksPerTurn })).toThrow(/stallAsksPerTurn/);
  });
});

describe('SWIM across wire versions (a rolling upgrade mixes old and new speakers)', () => {
  const verdicts = (c: ReturnType<typeof net>): SwimChange[] => c.names.flatMap((n) => c.changes.get(n) ?? []);

  it('old (version 1 only) and new members: no suspicion and no drop in a minute; old ones are sent version 1 only', () => {
    const c = net(6, 3, new Set(['node1', 'node2']));
    c.clock.advance(60_000);
    expect(verdicts(c)).toEqual([]);
    const { drops, sentVersions } = c.stats();
    expect(drops).toEqual([]);
    // Both versions on the wire; nothing an old member could not read reached one (it would count a drop).
    expect(sentVersions.get(1)).toBeGreaterThan(0);
    expect(sentVersions.get(2)).toBeGreaterThan(0);
  });

  it('detection still works both ways in a mixed cluster: an old member killed, then a new one', () => {
    const c = net(6, 5, new Set(['node1', 'node2']));
    c.clock.advance(2000);
    c.down.add('node1');
    until(c.clock, () => c.names.filter((n) => n !== 'node1').every((n) => c.node(n).state('node1') === 'dead'), 3000);
    c.down.add('node5');
    until(c.clock, () => c.names.filter((n) => !c.down.has(n)).every((n) => c.node(n).state('node5') === 'dead'), 3000);
    // Nobody else was suspected, and no datagram was dropped.
    for (const ch of verdicts(c)) expect(['node1', 'node5']).toContain(ch.name);
    expect(c.stats().drops).toEqual([]);
  });

  it('a rolling upgrade, one member at a time, the others seeing its Lease late: no suspicion, no drop, all version 2 at the end', () => {
    for (const seed of [1, 2, 3]) {
      const c = net(5, seed, new Set(['node1', 'node2', 'node3', 'node4', 'node5']));
      c.clock.advance(1000);
      for (const name of c.names) {
        c.upgrade(name, 150 + seed * 100); // the others see the new Lease 0.25-0.45 s later (watch delay under load)
        c.clock.advance(3000);
      }
      expect(verdicts(c)).toEqual([]);
      expect(c.stats().drops).toEqual([]);
      const before = c.stats().sentVersions.get(1) ?? 0;
      c.clock.advance(5000);
      expect(c.stats().sentVersions.get(1) ?? 0).toBe(before); // nobody sends version 1 any more
    }
  });

  it('version 2 is shorter: a ping between node1 and node2 is 45 bytes instead of 65', () => {
    const perNode = (old: ReadonlySet<string>): number => {
      const c = net(3, 1, old);
      c.clock.advance(10_000);
      return c.stats().bytes / 3 / 10;
    };
    const v1 = perNode(new Set(['node1', 'node2', 'node3']));
    const v2 = perNode(new Set());
    expect(v2 / v1).toBeLessThan(0.72);
  });

  it('version 2 and version 3 members: no suspicion and no drop in a minute; both versions on the wire', () => {
    const c = net(6, 7, new Set(), { newest: 3, v2: new Set(['node1', 'node2', 'node3']) });
    c.clock.advance(60_000);
    expect(verdicts(c)).toEqual([]);
    const { drops, sentVersions } = c.stats();
    expect(drops).toEqual([]); // a version 2 member sent version 3 would drop it (BadVersion)
    expect(sentVersions.get(2)).toBeGreaterThan(0);
    expect(sentVersions.get(3)).toBeGreaterThan(0);
    expect(sentVersions.get(1)).toBeUndefined();
    // Detection across versions: a version 2 member killed, then a version 3 one.
    c.down.add('node2');
    until(c.clock, () => c.names.filter((n) => !c.down.has(n)).every((n) => c.node(n).state('node2') === 'dead'), 3000);
    c.down.add('node5');
    until(c.clock, () => c.names.filter((n) => !c.down.has(n)).every((n) => c.node(n).state('node5') === 'dead'), 3000);
    for (const ch of verdicts(c)) expect(['node2', 'node5']).toContain(ch.name);
    expect(c.stats().drops).toEqual([]);
  });

  it('a rolling upgrade from version 2 to 3, one member at a time, the others seeing its Lease late: no suspicion, no drop, all version 3 at the end', () => {
    for (const seed of [1, 2, 3]) {
      const c = net(5, seed, new Set(), { newest: 3, v2: new Set(['node1', 'node2', 'node3', 'node4', 'node5']) });
      c.clock.advance(1000);
      for (const name of c.names) {
        c.upgrade(name, 150 + seed * 100);
        c.clock.advance(3000);
      }
      expect(verdicts(c)).toEqual([]);
      expect(c.stats().drops).toEqual([]);
      const before = c.stats().sentVersions.get(2) ?? 0;
      c.clock.advance(5000);
      expect(c.stats().sentVersions.get(2) ?? 0).toBe(before); // nobody sends version 2 any more
    }
  });

  it('a rolling upgrade straight from version 1 to 3 works the same way', () => {
    const c = net(4, 4, new Set(['node1', 'node2', 'node3', 'node4']), { newest: 3 });
    c.clock.advance(1000);
    for (const name of c.names) {
      c.upgrade(name, 300);
      c.clock.advance(3000);
    }
    expect(verdicts(c)).toEqual([]);
    expect(c.stats().drops).toEqual([]);
  });

  it('version 3 is shorter even with 5-character names (a ping: 40 bytes instead of 41; wire.test.ts: 40 with 63 characters)', () => {
    const perNode = (newest: WireVersion): number => {
      const c = net(3, 1, new Set(), { newest });
      c.clock.advance(10_000);
      return c.stats().bytes / 3 / 10;
    };
    // node1..node3: a name of 5 characters + its length byte in version 2, 0xff + a 4-byte id in version 3.
    expect(perNode(3)).toBeLessThan(perNode(2));
  });
});

describe('SWIM joining members (a speaker answers only after its first Lease renewal)', () => {
  const allChanges = (c: ReturnType<typeof net>): SwimChange[] => c.names.flatMap((n) => c.changes.get(n) ?? []);

  it('a member that starts answering 3 s after its peers (a slow API server) is suspected by nobody; heard from, it is detected as fast as any', () => {
    const c = net(5);
    c.down.add('node5'); // its state machine not started yet: it answers nothing
    c.clock.advance(3000);
    expect(allChanges(c)).toEqual([]);
    c.down.delete('node5');
    c.clock.advance(3000);
    expect(allChanges(c)).toEqual([]);
    for (const n of c.names) if (n !== 'node5') expect(c.node(n).heardFrom('node5')).toBe(true);
    c.down.add('node5');
    const t = until(c.clock, () => c.names.some((n) => n !== 'node5' && c.node(n).state('node5') === 'dead'), 3000);
    expect(t).toBeLessThanOrEqual(2 * TIMING.periodMs + TIMING.suspicionMs + 100);
  });

  it('a member never heard from is judged once its grace has passed, not before', () => {
    const c = net(4);
    c.down.add('node4');
    const t = until(c.clock, () => c.node('node1').state('node4') === 'dead', 15_000);
    // Not suspected before the 10 s grace; then as any member: a failed probe, the suspicion time.
    const suspected = (c.changes.get('node1') ?? []).find((x) => x.name === 'node4');
    expect(suspected?.state).toBe('suspect');
    expect(t).toBeGreaterThanOrEqual(10_000);
    expect(t).toBeLessThanOrEqual(10_000 + 4 * TIMING.periodMs + TIMING.suspicionMs);
    expect(allChanges(c).filter((x) => x.name !== 'node4')).toEqual([]);
  });

  it('a member whose Lease appears while running is joining until heard; the first to hear it gossips it alive, so a member that cannot reach it learns it too', () => {
    const c = net(6);
    const others = c.names.filter((n) => n !== 'node6');
    c.down.add('node6');
    for (const n of others) c.node(n).removeMember('node6');
    c.clock.advance(1000);
    const events: string[] = [];
    for (const n of others) c.node(n).onJoining((name, joining) => events.push(`${n} ${name} ${joining}`));
    for (const n of others) c.node(n).addMember('node6');
    expect(events.sort()).toEqual(others.map((n) => `${n} node6 true`));
    for (const n of others) expect([...c.node(n).joining()]).toEqual(['node6']);
    // node1 and node6 cannot reach each other: node1 can learn of node6 only through the others.
    c.setCut((from, to) => (from === 'node1' && to === 'node6') || (from === 'node6' && to === 'node1'));
    c.clock.advance(2000); // node6 still silent (not started): joining for everyone, suspected by nobody
    for (const n of others) expect(c.node(n).joining().has('node6')).toBe(true);
    expect(allChanges(c)).toEqual([]);
    c.down.delete('node6');
    const t = until(c.clock, () => others.every((n) => c.node(n).joining().size === 0), 5000);
    expect(t).toBeLessThan(3000);
    expect(c.node('node1').heardFrom('node6')).toBe(true);
    expect(events.filter((e) => e.endsWith('false')).sort()).toEqual(others.map((n) => `${n} node6 false`));
    c.clock.advance(5000);
    expect(allChanges(c)).toEqual([]); // node1 probes it through the others (ping-req): no suspicion
  });

  it('a new life is joining again until heard; a member that leaves while joining is no longer joining', () => {
    const c = net(3);
    c.clock.advance(1000);
    c.down.add('node3');
    until(c.clock, () => c.node('node1').state('node3') === 'dead');
    c.clock.advance(2000); // the gossip of its death settles before its new Lease is seen
    const node1 = c.node('node1');
    // Its new Lease, seen by both.
    node1.rejoin('node3');
    c.node('node2').rejoin('node3');
    expect(node1.state('node3')).toBe('alive');
    expect(node1.joining().has('node3')).toBe(true);
    expect(node1.heardFrom('node3')).toBe(false);
    c.clock.advance(3000); // its new process not answering yet: no suspicion in its grace
    expect((c.changes.get('node1') ?? []).filter((x) => x.name === 'node3').map((x) => x.state).join(' ')).toBe('suspect dead alive');
    c.down.delete('node3');
    until(c.clock, () => !node1.joining().has('node3'), 2000);
    node1.rejoin('node3');
    node1.removeMember('node3');
    expect(node1.joining().size).toBe(0);
    expect(node1.state('node3')).toBeUndefined();
  });

  it('a member first heard in a life that began while we ran is told our death verdicts (one datagram, at most 8, deaths only), so a fresh member learns a dead-but-Lease-live peer at once', () => {
    const clock = new ManualClock();
    const sent: Message[] = [];
    const names = Array.from({ length: 20 }, (_, i) => `n${String(i + 1).padStart(2, '0')}`);
    const swim = new Swim({ ...TIMING, clock, self: 'n00', send: (_to, m) => void sent.push(m) });
    for (const n of names) swim.addMember(n, false);
    swim.start();
    // n01 tells us 12 deaths and a suspicion (gossip): we hold 12 members dead, one suspect.
    const deadNames = names.slice(2, 14);
    swim.receive({ type: 'ping', seq: 7, incarnation: 0, from: 'n01', target: 'n00', updates: deadNames.slice(0, 8).map((name) => ({ name, state: 'dead', incarnation: 0 })) });
    swim.receive({ type: 'ping', seq: 8, incarnation: 0, from: 'n01', target: 'n00', updates: [...deadNames.slice(8).map((name) => ({ name, state: 'dead' as const, incarnation: 0 })), { name: 'n15', state: 'suspect', incarnation: 0 }] });
    expect(swim.dead()).toEqual(deadNames);
    // n01 was heard before we held any verdict: told nothing (only the two acks).
    expect(sent.map((m) => m.seq)).toEqual([7, 8]);
    sent.length = 0;
    // n18, known at our start (it has run as long as we have), first heard now: told nothing.
    swim.receive({ type: 'ping', seq: 6, incarnation: 0, from: 'n18', target: 'n00', updates: [] });
    expect(sent.map((m) => m.seq)).toEqual([6]);
    sent.length = 0;
    // n16's Lease shows a new life (it restarted while we ran); heard for the first time in it: one
    // datagram of verdicts (an ack of seq 0, before the answer), then the ack.
    swim.rejoin('n16');
    swim.receive({ type: 'ping', seq: 9, incarnation: 0, from: 'n16', target: 'n00', updates: [] });
    expect(sent.map((m) => `${m.type} ${m.seq}`)).toEqual(['ack 0', 'ack 9']);
    const told = sent[0]?.updates ?? [];
    expect(told.length).toBe(8);
    for (const u of told) expect(deadNames.includes(u.name) && u.state === 'dead').toBe(true);
    expect(swim.counts.verdictsTold).toBe(8);
    // Heard again: nothing more. A new life of n16 (its Lease): told again.
    sent.length = 0;
    swim.receive({ type: 'ping', seq: 10, incarnation: 0, from: 'n16', target: 'n00', updates: [] });
    expect(sent.map((m) => m.seq)).toEqual([10]);
    swim.rejoin('n16');
    swim.receive({ type: 'ping', seq: 11, incarnation: 0, from: 'n16', target: 'n00', updates: [] });
    expect(sent.map((m) => m.seq)).toEqual([10, 0, 11]);
    // A member whose Lease shows a new life, or that left, is no verdict any more.
    for (const n of deadNames) swim.rejoin(n);
    swim.rejoin('n17');
    sent.length = 0;
    swim.receive({ type: 'ping', seq: 12, incarnation: 0, from: 'n17', target: 'n00', updates: [] });
    expect(sent.map((m) => m.seq)).toEqual([12]);
    // The receiver of a verdict datagram takes it as gossip (and as no answer to anything).
    const fresh = new Swim({ ...TIMING, clock, self: 'n16', send: () => undefined });
    fresh.setMembers(['n00', ...names]);
    fresh.start();
    const answers: string[] = [];
    fresh.onAnswer((n) => answers.push(n));
    fresh.receive({ type: 'ack', seq: 0, incarnation: 0, from: 'n00', target: 'n16', updates: told });
    expect(fresh.dead()).toEqual(told.map((u) => u.name).sort());
    expect(answers).toEqual([]);
    swim.stop();
    fresh.stop();
  });

  it('ask: a ping outside the round-robin whose answer says the member heard us (onAnswer); its silence suspects nobody', () => {
    const clock = new ManualClock();
    const sent: Array<{ to: string; m: Message }> = [];
    const swim = new Swim({ ...TIMING, clock, self: 'n00', send: (to, m) => void sent.push({ to, m }) });
    const answers: string[] = [];
    swim.onAnswer((n) => answers.push(n));
    swim.setMembers(['n01', 'n02']);
    expect(swim.ask('n01')).toBe(false); // not started
    swim.start();
    expect(swim.ask('n09')).toBe(false); // not a member
    expect(swim.ask('n01')).toBe(true);
    const ping = sent.at(-1);
    expect(ping?.to).toBe('n01');
    expect(ping?.m.type).toBe('ping');
    // An ack with another seq, or a ping from it, is no answer.
    swim.receive({ type: 'ack', seq: (ping?.m.seq ?? 0) + 100, incarnation: 0, from: 'n01', target: 'n01', updates: [] });
    swim.receive({ type: 'ping', seq: 1, incarnation: 0, from: 'n02', target: 'n00', updates: [] });
    expect(answers).toEqual([]);
    swim.receive({ type: 'ack', seq: ping?.m.seq ?? 0, incarnation: 0, from: 'n01', target: 'n01', updates: [] });
    expect(answers).toEqual(['n01']);
    swim.stop();
    // Asked and silent: no suspicion from it (a long period, so no round-robin probe meanwhile), its probe gone after a period.
    const quiet = new Swim({ ...TIMING, periodMs: 1000, joinGraceMs: 1, clock, self: 'n00', send: () => undefined });
    quiet.setMembers(['n01', 'n02']);
    quiet.start();
    clock.advance(1);
    expect(quiet.ask('n02')).toBe(true);
    expect(quiet.pending.probes).toBe(1);
    clock.advance(998);
    expect(quiet.state('n02')).toBe('alive');
    expect(quiet.counts.suspicions).toBe(0);
    clock.advance(2);
    expect(quiet.pending.probes).toBe(1); // the round-robin's own probe only
    quiet.stop();
  });

  it('members added and removed one at a time: indirect probes go only to members still listed', () => {
    const clock = new ManualClock();
    const sent: Array<{ to: string; type: string }> = [];
    const names = Array.from({ length: 30 }, (_, i) => `n${String(i).padStart(2, '0')}`);
    const swim = new Swim({ ...TIMING, joinGraceMs: 1, clock, self: 'n00', send: (to, m) => void sent.push({ to, type: m.type }) });
    for (const n of names) swim.addMember(n);
    swim.start();
    const gone = new Set(names.filter((_, i) => i % 3 === 0 || i > 25));
    for (const n of gone) swim.removeMember(n);
    swim.addMember('n29'); // back
    gone.delete('n29');
    clock.advance(20 * TIMING.periodMs);
    const reqs = sent.filter((x) => x.type === 'pingReq');
    expect(reqs.length).toBeGreaterThan(10);
    for (const r of reqs) expect(gone.has(r.to)).toBe(false);
    for (const n of names) expect(swim.state(n) === undefined).toBe(gone.has(n) || n === 'n00');
    swim.stop();
  });

  it('gossip: each update sent its number of times, at most 8 a message, the least sent first, whatever is pending', () => {
    const q = new GossipQueue();
    for (let i = 0; i < 100; i++) q.set({ name: `n${i}`, state: 'dead', incarnation: 0 }, 3);
    const sends = new Map<string, number>();
    let messages = 0;
    while (q.size > 0) {
      const taken = q.take(8);
      messages++;
      expect(taken.length).toBeGreaterThan(0);
      expect(taken.length).toBeLessThanOrEqual(8);
      for (const u of taken) sends.set(u.name, (sends.get(u.name) ?? 0) + 1);
      // Least sent first: nobody is sent a second time before everyone was sent once.
      if (messages === 12) expect([...sends.values()].every((k) => k === 1) && sends.size === 96).toBe(true);
      if (messages === 13) expect(sends.size).toBe(100);
    }
    expect([...sends.values()].every((k) => k === 3)).toBe(true);
    expect(messages).toBe(Math.ceil(300 / 8));
    // A newer update replaces the pending one (and its count).
    q.set({ name: 'a', state: 'suspect', incarnation: 1 }, 2);
    q.take(8);
    q.set({ name: 'a', state: 'dead', incarnation: 1 }, 2);
    expect(q.take(8)).toEqual([{ name: 'a', state: 'dead', incarnation: 1 }]);
    expect(q.take(8)).toEqual([{ name: 'a', state: 'dead', incarnation: 1 }]);
    expect(q.size).toBe(0);
  });
});

