// The liveness part of the scale simulator in virtual time: N members, each the real SWIM state
// machine (protocols/liveness/swim.ts) on an EventClock, every message sealed and opened by the real
// wire with HMAC-SHA256 (wire.ts and message.ts, as LivenessTransport does: version, MAC, replay and
// downgrade checks; `old` members read and send version 1 only, as before version 2), delivered after a
// simulated one-way latency instead of through a UDP socket. Timers and deliveries run in due-time
// order however long the host takes to compute them, so the figures are the protocol's, not the
// host's: on this 2-core machine, 1,000 real-time members with real UDP (10,000 datagrams/s, each
// sealed and opened) starve, and a starved process stalls all of its members at once, a correlated
// failure one speaker per node does not have (README: Scale). What this part does not measure (the
// real-time part does): the socket, the kernel, the API server.
// A member declared dead starts a new life, as the speaker does: its Lease write, seen by every other
// member `leaseRoundTripMs` later, revives it (Swim.rejoin).
import { VERSION, VERSIONS, type Message, type WireVersion } from '../../protocols/liveness/message.js';
import { Swim } from '../../protocols/liveness/swim.js';
import { LivenessWire } from '../../protocols/liveness/wire.js';
import { EventClock } from './event-clock.js';
import type { SimTiming } from './scale-protocol.js';

export interface VirtualOptions {
  n: number;
  timing: SimTiming;
  secret: Buffer;
  /** Steady window (virtual seconds) for traffic and false suspicions. */
  windowS: number;
  kills: number;
  /** One-way delivery latency: base + uniform jitter (ms). Default 0.2 + [0, 0.6). */
  latencyMs?: { base: number; jitter: number };
  /** A member's new-life Lease write until every member saw it (ms). Default 50. */
  leaseRoundTripMs?: number;
  random?: () => number;
  /** Called every 60 virtual seconds of the steady window: seconds so far, false suspicions and deaths so far. */
  progress?: (windowS: number, falseSuspicions: number, falseDeaths: number) => void;
  /** Members (the first `old` names) that read and send wire version 1 only: a rolling upgrade half done. Default 0. */
  old?: number;
  /** The newest wire version the other members speak (2: as before version 3). Default: the newest there is. */
  wire?: WireVersion;
  /** Length of the node names (`node-0042` padded like an FQDN, at most 63). Default 9. */
  nameLength?: number;
}

export interface VirtualResult {
  windowS: number;
  bytesPerSecPerNode: number;
  datagramsPerSecPerNode: number;
  falseSuspicions: number;
  falseDeaths: number;
  quorumLosses: number;
  newLives: number;
  /** Datagrams a member's wire dropped (version, MAC, replay, downgrade) over the window: 0 expected. */
  wireDrops: number;
  detectMs: number[];
  agreeMs: number[];
  notAgreed: number;
  /** Host CPU seconds the simulation took, and virtual seconds simulated. */
  cpuS: number;
  virtualS: number;
}

interface Member {
  name: string;
  swim: Swim;
  alive: boolean;
}

/** The simulated node name of member `i`: `node-0042`, padded like an FQDN to `length` characters. */
export function simNodeName(i: number, length = 9): string {
  return `node-${String(i).padStart(4, '0')}`.padEnd(Math.min(63, length), '.example');
}

export function runVirtual(o: VirtualOptions): VirtualResult {
  const cpu0 = process.cpuUsage();
  const clock = new EventClock();
  const random = o.random ?? Math.random;
  const lat = o.latencyMs ?? { base: 0.2, jitter: 0.6 };
  const names = Array.from({ length: o.n }, (_, i) => simNodeName(i, o.nameLength));
  const members = new Map<string, Member>();
  const killed = new Set<string>();
  const counts = { bytes: 0, datagrams: 0, falseSuspicions: 0, falseDeaths: 0, quorumLosses: 0, newLives: 0, wireDrops: 0 };
  const old = new Set(names.slice(0, o.old ?? 0));
  const newest = o.wire ?? VERSION;
  const current = VERSIONS.filter((v) => v <= newest);
  // Stamps come from each member's wall clock: virtual time from an arbitrary epoch.
  const epoch = Date.UTC(2026, 11, 6);
  const wires = new Map<string, LivenessWire>();
  for (const name of names) {
    const wire = new LivenessWire({ secret: o.secret, self: name, versions: old.has(name) ? [1] : current, wallNow: () => epoch + clock.now() });
    for (const peer of names) if (peer !== name) wire.setPeer(peer, old.has(peer) ? 1 : newest);
    wires.set(name, wire);
  }
  const verdicts = new Map<string, { first: number; count: number }>();
  const t = o.timing;

  for (const name of names) {
    const wire = wires.get(name) as LivenessWire;
    const send = (to: string, m: Message): void => {
      const datagram = wire.seal(to, m);
      // Sent + received, as the real-time part counts them (a datagram to a crashed member is sent only).
      counts.bytes += datagram.length;
      counts.datagrams++;
      clock.setTimeout(() => {
        const peer = members.get(to);
        if (!peer?.alive) return;
        counts.bytes += datagram.length;
        counts.datagrams++;
        const opened = (wires.get(to) as LivenessWire).open(datagram);
        if (opened.ok) peer.swim.receive(opened.datagram.message);
        else counts.wireDrops++;
      }, lat.base + random() * lat.jitter);
    };
    const swim = new Swim({ clock, self: name, periodMs: t.periodMs, probeTimeoutMs: t.probeTimeoutMs, suspicionMs: t.suspicionMs, indirect: 2, send, random });
    const member: Member = { name, swim, alive: true };
    swim.onChange((c) => {
      if (!member.alive) return;
      if (c.name === name) {
        if (c.state !== 'dead') return;
        // Declared dead: a new life; the others see its Lease change and revive it.
        counts.newLives++;
        clock.setTimeout(() => {
          for (const m of members.values()) if (m.alive && m !== member) m.swim.rejoin(name);
        }, o.leaseRoundTripMs ?? 50);
        return;
      }
      if (killed.has(c.name)) {
        if (c.state !== 'dead') return;
        const v = verdicts.get(c.name) ?? { first: clock.now(), count: 0 };
        v.count++;
        verdicts.set(c.name, v);
        return;
      }
      if (c.state === 'suspect') counts.falseSuspicions++;
      if (c.state === 'dead') counts.falseDeaths++;
    });
    swim.onQuorumChange((q) => void (q || counts.quorumLosses++));
    swim.setMembers(names);
    members.set(name, member);
  }
  // Speakers start at unrelated times: phases spread over one period.
  for (const m of members.values()) clock.setTimeout(() => m.swim.start(), random() * t.periodMs);

  clock.runUntil(5_000);
  const before = { ...counts };
  const windowMs = o.windowS * 1000;
  const windowEnd = clock.now() + windowMs;
  // In slices, so that a long window reports as it goes (a 10-minute window at N = 1,000 takes CPU minutes).
  while (clock.now() < windowEnd) {
    clock.runUntil(Math.min(windowEnd, clock.now() + 60_000));
    o.progress?.((o.windowS * 1000 - (windowEnd - clock.now())) / 1000, counts.falseSuspicions - before.falseSuspicions, counts.falseDeaths - before.falseDeaths);
  }
  const steady = Object.fromEntries(Object.entries(counts).map(([k, v]) => [k, v - before[k as keyof typeof counts]])) as typeof counts;

  const detectMs: number[] = [];
  const agreeMs: number[] = [];
  let notAgreed = 0;
  for (let k = 0; k < o.kills && k < o.n - 2; k++) {
    let victim: string;
    do victim = names[Math.floor(random() * o.n)] as string;
    while (killed.has(victim));
    killed.add(victim);
    const m = members.get(victim) as Member;
    m.alive = false;
    m.swim.stop();
    const at = clock.now();
    const live = o.n - killed.size;
    // Every live member's first verdict on the victim counts once (death is final for a life): the
    // run stops at the verdict that makes them all agree, or after 15 s.
    const stop = (): boolean => (verdicts.get(victim)?.count ?? 0) >= live;
    let agreedAt: number | undefined;
    const deadline = at + 15_000;
    while (clock.now() < deadline) {
      clock.runUntil(Math.min(deadline, clock.now() + 50), stop);
      if (stop() && [...members.values()].every((x) => !x.alive || x.swim.state(victim) === 'dead')) {
        agreedAt = clock.now();
        break;
      }
    }
    const v = verdicts.get(victim);
    if (v) detectMs.push(v.first - at);
    if (agreedAt !== undefined) agreeMs.push(agreedAt - at);
    else notAgreed++;
    clock.runUntil(clock.now() + 1000);
  }
  for (const m of members.values()) m.swim.stop();
  const cpu = process.cpuUsage(cpu0);
  return {
    windowS: o.windowS,
    bytesPerSecPerNode: steady.bytes / o.windowS / o.n,
    datagramsPerSecPerNode: steady.datagrams / o.windowS / o.n,
    falseSuspicions: steady.falseSuspicions,
    falseDeaths: steady.falseDeaths,
    quorumLosses: steady.quorumLosses,
    newLives: steady.newLives,
    wireDrops: steady.wireDrops,
    detectMs,
    agreeMs,
    notAgreed,
    cpuS: (cpu.user + cpu.system) / 1e6,
    virtualS: clock.now() / 1000,
  };
}
