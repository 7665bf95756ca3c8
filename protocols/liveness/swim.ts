// SWIM failure detection among a known member list (the speakers' Leases are the authority for who
// is a member; this only says, fast, which members answer). One explicit state machine per member:
//
//   alive --(no ack, direct or indirect, by the end of a protocol period)--> suspect
//   suspect --(suspicionMs without a refutation)--> dead
//   suspect --(alive with a higher incarnation, or any message from it)--> alive
//   dead --(its Lease shows a new life: rejoin)--> alive
//
// Every periodMs this node probes the next member of a shuffled round-robin list (each member is
// probed at least once every n periods, and by each of the others on average once per period
// overall): a ping, and if no ack came within probeTimeoutMs, a ping-req through `indirect` random
// others, who ping the target and forward its ack (or answer nack). Suspicion and death are
// piggybacked on every message (at most MAX_UPDATES each, each update sent a bounded number of
// times), so a node sends one ping, one ack and at most `indirect` ping-reqs per period whatever
// the cluster size. A member suspected of itself refutes with a higher incarnation.
//
// Partition rule (the quorum), by sampling so that it costs nothing more as the cluster grows: over
// the last quorumWindowMs, the members we heard from (reachable) against the members not declared
// dead that we asked (ping, ping-req) and that have not answered for probeTimeoutMs since
// (unreachable). With quorum means 1 (ourselves) + reachable > unreachable: a node cut off hears
// nobody and every ask goes unanswered, so it loses quorum within about quorumWindowMs (default
// 1.5 x periodMs + probeTimeoutMs),
// sooner than the others can declare it dead (at least periodMs + suspicionMs after its last ack).
// Without quorum a node starts no suspicion (a cut-off node would otherwise declare everyone dead
// and claim their VIPs), and the speaker stops answering until its Lease vouches for it.
// Lifeguard's rule too: a probe whose indirect helpers sent neither ack nor nack says more about us
// than about the target, so it does not start a suspicion either.
//
// Stalls: a process that was not run for a while (SIGSTOP, a frozen VM, a long pause) may have been
// declared dead meanwhile, and on resuming it reads its queued I/O (ARP requests, old datagrams)
// before any timer runs, so a quorum state computed before the stall would let it answer for VIPs
// the others have handed over. So every entry point (timers, received messages, and the speaker's
// answer path through awake()) first compares the clock with the last time this ran: a gap over
// stallMs is a stall. The node is then `stalled` until each member it asks has answered (an answer
// carries that member's verdict on us, applied before the stall ends), or for at most periodMs +
// suspicionMs (a member silent that long cannot tell us anything; the sampled quorum then decides as
// for a cut-off node), or until no member is left that could answer. Datagrams queued during the
// stall prove nothing: they answer requests sent before it. A Lease renewal does not end it either:
// it says the API server hears us, not what the other speakers decided. A stalled node starts no
// suspicion (the silence was its own) and the speaker does not answer.
// Whom it asks (the stall check; recheck() below asks the same way): a bounded set, not every member
// (until session 12 it pinged all N: one real node's N datagrams once, but N per stall is an O(N)
// burst, and the simulator's 250 members per process turned one stall into 250 x N datagrams, a stall
// again: a storm). The set is
//   (1) stallSample random members not dead (default 16; all of them when fewer),
//   (2) every member whose ping of us (direct or relayed) we read while stalled, queued ones first,
//   (3) every member whose message told us, while stalled, that we are suspect or dead,
// each asked once per stall, and the stall ends when all of them answered. And on detecting a stall
// it raises its incarnation (a refutation in advance, gossiped on those pings and onward).
// Why this keeps the guarantee (a node declared dead, or being declared, learns it before answering):
// - Nobody can declare us dead before we were silent for periodMs + suspicionMs (a probe, its period,
//   then the suspicion time); stallMs (default suspicionMs) is below that. A verdict needs a suspicion,
//   and every suspicion starts with a prober P that pinged us (and its helpers, who pinged us for it)
//   after our last run: that ping waits in our socket and is read while we are stalled (queued data
//   comes before any answer to our check, which arrives behind it), so P is in (2). A member that holds
//   us dead got the suspicion from a P, later than P, and declares no earlier than P does (P's
//   suspicion cannot end while we send nothing); so whenever anyone holds us dead, some P in (2) does,
//   and its answer carries it. What breaks this: P's ping lost, or dropped because the socket buffer
//   filled (a stall of many seconds: ~200 datagrams of buffer at ~5 pings/s), or P gone. Then (1): by
//   then the verdict is old, every holder gossips it (3 log10 n sends each) and a fraction p of the
//   members hold it; 16 random asks all miss with probability (1 - p)^16: 1.5e-5 at p = 1/2, 1e-16 at
//   p = 0.9.
// - Being declared (suspicions still running at members that heard of them by gossip, which the old
//   pings to everyone ended where they landed): the raised incarnation overrides every suspicion at the
//   old one, and the refutation is retraced: a member whose suspicion of X ends (X heard from, or an
//   alive update at a higher incarnation) sends the news at once (an ack matching no probe) to the
//   members it had sent that suspicion to (it keeps their names while X is suspect: at most 2 x
//   3 log10 n), who do the same. Every suspicion descends from a prober P in (2), which our ask ends,
//   so the refutation reaches every holder along the paths the suspicion took, within a few one-way
//   delays instead of O(log n) periods of gossip (which lost the race to the 400 ms suspicion time:
//   without the retrace, 7 to 8 of 60 stalls of 450-700 ms at 40 members asking 6 ended in a death
//   declared after the stall, learnt late; with it 0 of 60, and 0 of 100 at 200 members asking 16, as
//   with everyone asked). It also beats suspicion gossip still in flight (behind the refutation on
//   the same path, at a lower incarnation, it is ignored). Cost: one datagram per member told, once,
//   when a suspicion ends; nothing while none does. What is left is the datagram lost on the way, as
//   for any gossip.
// - The heal case (recheck(): a node cut off, its quorum lost, vouched for by a Lease renewal): the
//   cut dropped the probes, so (2) is empty. The verdict made during the cut is usually old by then
//   (a cut of a few seconds: every member holds it), and (1) finds it as above. The weaker case: a cut
//   that heals within about the dissemination time after the first verdict (O(log n) periods: ~1-2 s
//   at n = 1,000), when few hold it: the sample may miss it (1 holder of 1,000: 98 % miss), and the
//   node answers until the gossip of its death reaches it (O(log n) periods, the holders send it 3 log10
//   n times each and it is reachable again). That overlap is of the size the gate already accepts for a
//   node the API server hears but UDP does not reach (a verdict lapses after two Lease changes, ~2 s at
//   the 1 s renewals without quorum).
// Paced: the check's pings go out at most stallAsksPerTurn (4) a turn, the rest on the next turns (0 ms
// timers, after the queued I/O): a real node sends its 16-odd within a few milliseconds; the scale
// simulator's 250 members a process, all stalled by one pause, sent 250 x ~40 in one turn, long enough
// (~0.4 s) to stall them all again (a 2 s freeze at 250 members: 7 waves, 915 stalls in 8 s; paced, one
// wave of 250 stalls, 16 asks each).
// Cost: at most stallSample + the requests read while stalled per stall (requests arrive at about one
// per period plus relays), flat in N; the old rule's N datagrams per stall are gone.
// Joining members: a speaker starts its state machine only after its first Lease renewal succeeds,
// and its peers see its Lease (or its new life) as soon as the API server committed it: under a slow
// API server, seconds before it answers. So a member not heard from in its current life (no message
// from it, no gossip that it is alive) is, until joinGraceMs after it appeared (or after our start,
// for members known then), neither suspected by us (our probes of it start no suspicion) nor counted
// unreachable for the quorum (a member not started yet says nothing about our reach). It is probed
// as any member, so its first ack ends that; past the grace it is judged as any member. Gossip from
// a member that heard it is not affected: a suspicion or death from elsewhere applies as always.
// Members that appeared (or began a new life) while we run are also *joining* until first heard
// (joining(), onJoining): the speaker counts them for no VIP ownership, so no VIP moves to a node
// that does not answer yet. The first member to hear from a joining one gossips it alive, so every
// member counts it within O(log n) periods; an alive update about it also ends its grace. Members
// known at our start are not joining (a starting speaker that excluded every peer would take every
// VIP), only in grace. Costs: a flag and a time per member, O(1) per change; one gossip entry per
// join, within the bounded piggyback (traffic per node stays flat).
//
// Verdicts told: the grace also covers a member dead (declared by the others) whose Lease is still
// live when we start, and the others' death gossip was spent long before: we would count it for
// VIP ownership for the whole grace. So a member heard from for the first time (directly) in a life
// that began while we ran, that is, one that has just started, is sent at once our death verdicts
// (one datagram, an ack of seq 0 answering nothing, at most MAX_UPDATES of them from a random place
// in our list, only when we hold any): the starting node learns them from the first peer that hears
// it, as gossip (dead overrides its grace), within about a period of its start. Deaths only: a
// suspicion passed on after its refutation was spent would make a false death. The grace's own case
// is kept: a member that started just before us and is not answering yet is in every peer's grace
// too, so no peer holds it dead. Costs: one datagram per member and new life it first hears of,
// and only while it holds a verdict.
//
// Answers: an ack or nack to a request of ours (ping, ping-req, ask) proves its sender received a
// message from us, so it heard us and no longer counts us as joining (onAnswer). ask(name) pings a
// member outside the round-robin for that answer only (its silence starts no suspicion): the speaker
// asks the node it would take a VIP from before claiming it (speaker/liveness-gate.ts, claims).
import type { Clock, TimerHandle } from '../clock.js';
import { MAX_UPDATES, type MemberState, type Message, type Update } from './message.js';

export interface SwimOptions {
  clock: Clock;
  self: string;
  periodMs: number;
  probeTimeoutMs: number;
  suspicionMs: number;
  /** Members asked to probe for us when a direct probe times out. */
  indirect: number;
  /** Send `m` to member `to` (the transport knows the address). */
  send: (to: string, m: Message) => void;
  /** Random in [0, 1) (injectable for tests). */
  random?: () => number;
  /** The quorum's sampling window (see the header). Default: 1.5 x periodMs + probeTimeoutMs. */
  quorumWindowMs?: number;
  /**
   * A gap this long between two runs is a stall (see the header). Default: suspicionMs, below the
   * least silence after which the others can declare us dead (about periodMs + suspicionMs).
   */
  stallMs?: number;
  /**
   * The random members a stall check (and recheck()) asks, besides those that pinged us or told us we
   * are suspected while it ran (see the header). Default 16; every member not dead when fewer.
   */
  stallSample?: number;
  /**
   * A stall check's pings go out at most this many a turn (the rest on the next timer turns; see the
   * header). Default 4.
   */
  stallAsksPerTurn?: number;
  /**
   * Joining members (see the header): a member not heard from in its current life is not suspected,
   * nor counted unreachable for the quorum, until this long after it appeared (or after our start).
   * Default 10 s: a speaker starts its state machine only after its first Lease renewal succeeds,
   * which a slow API server answers seconds after its peers saw the Lease.
   */
  joinGraceMs?: number;
}

export interface SwimChange {
  name: string;
  state: MemberState;
}

class Member {
  state: MemberState = 'alive';
  incarnation = 0;
  /** Local time we last sent it a ping or ping-req (an answer is expected); undefined: never. */
  askedAt: number | undefined = undefined;
  suspectTimer: TimerHandle | undefined = undefined;
  /** Asked (askedAt > lastHeard) and silent for over probeTimeoutMs: see Swim.refreshQuorum. */
  aged = false;
  /** Counted in Swim.unreachable. */
  counted = false;
  /** Its places in Swim.heardList and Swim.asking. */
  readonly heardLink: Link = { member: this, prev: undefined, next: undefined, linked: false };
  readonly askLink: Link = { member: this, prev: undefined, next: undefined, linked: false };

  /** Heard from in its current life (a message from it, or gossip that it is alive): see the header, joining. */
  heard = false;
  /** Appeared (added, or a new life) while we ran: excluded from ownership (joining) until heard. */
  late = false;
  /** Its place in Swim.nameList (O(1) removal). */
  index = -1;
  /** Its place in Swim.deadList while dead (-1: not dead). */
  deadIndex = -1;

  /**
   * lastHeard: local time we last received an authenticated message from it (set to the time it
   * appeared, as if heard then: see Swim.addMember). addedAt: when it appeared or began a new life.
   */
  constructor(
    public lastHeard: number,
    public addedAt: number,
  ) {}
}

/** A member's place in a time-ordered list (intrusive: made once per member, no allocation per message). */
interface Link {
  readonly member: Member;
  prev: Link | undefined;
  next: Link | undefined;
  linked: boolean;
}

/**
 * Members in the order they were appended (which is time order here), with O(1) append, removal and
 * oldest-first reads. (A Set in insertion order is not enough: its deleted entries stay as holes until
 * it is rehashed, so reading its oldest entry walks them.)
 */
class TimeList {
  private head: Link | undefined;
  private tail: Link | undefined;
  size = 0;

  oldest(): Member | undefined {
    return this.head?.member;
  }

  /** Appends `l` (moving it to the end if present). */
  append(l: Link): void {
    if (l.linked) this.remove(l);
    l.prev = this.tail;
    l.next = undefined;
    if (this.tail) this.tail.next = l;
    else this.head = l;
    this.tail = l;
    l.linked = true;
    this.size++;
  }

  remove(l: Link): void {
    if (!l.linked) return;
    if (l.prev) l.prev.next = l.next;
    else this.head = l.next;
    if (l.next) l.next.prev = l.prev;
    else this.tail = l.prev;
    l.prev = l.next = undefined;
    l.linked = false;
    this.size--;
  }
}

interface Probe {
  seq: number;
  target: string;
  acked: boolean;
  /** Indirect helpers asked, and whether any of them answered (ack or nack). */
  helpers: number;
  helperAnswered: boolean;
  /** Our own probe: whether we had the quorum when we sent it (no suspicion from one sent without). */
  sentWithQuorum?: boolean;
  /** Our own probe, sent while its target was in its grace (joining): no suspicion from it either. */
  sentInGrace?: boolean;
  /** A ping sent on detecting a stall (see the header): its ack only counts the member as heard. */
  stallCheck?: boolean;
  /** A ping sent by ask() (see the header, claims): its ack only says the member heard us; never a suspicion. */
  asked?: boolean;
  /** Set when we are relaying for another member: answer it when the target acks or not. */
  relayFor?: { requester: string; seq: number };
  timer: TimerHandle | undefined;
}

const NO_UPDATES: readonly Update[] = Object.freeze([]);

/** An update to piggyback and the sends it has left. */
interface GossipEntry {
  update: Update;
  left: number;
}

/**
 * The updates to piggyback, at most one per member, taken least sent first (most sends left), oldest
 * first among equals. Kept in buckets by sends left (at most retransmits(n), about 10), so a message
 * takes its updates in O(MAX_UPDATES) whatever the number pending: sorting them all per message cost
 * O(G log G) exactly when G is large (many members changing at once: a mass join, a storm).
 */
export class GossipQueue {
  private readonly byName = new Map<string, GossipEntry>();
  /** buckets[left]: the entries with that many sends left, in the order they entered it. */
  private readonly buckets: Array<Set<GossipEntry>> = [];
  private readonly taken: GossipEntry[] = [];

  get size(): number {
    return this.byName.size;
  }

  set(update: Update, left: number): void {
    this.delete(update.name);
    const e: GossipEntry = { update, left };
    this.byName.set(update.name, e);
    this.bucket(left).add(e);
  }

  delete(name: string): void {
    const e = this.byName.get(name);
    if (!e) return;
    this.byName.delete(name);
    this.buckets[e.left]?.delete(e);
  }

  /** Up to `max` updates, the least sent first; each counts down and leaves at 0. */
  take(max: number): Update[] {
    const taken = this.taken;
    taken.length = 0;
    for (let left = this.buckets.length - 1; left > 0 && taken.length < max; left--) {
      const b = this.buckets[left];
      if (b === undefined) continue;
      for (const e of b) {
        if (taken.length >= max) break;
        taken.push(e);
      }
    }
    const out: Update[] = [];
    for (const e of taken) {
      this.buckets[e.left]?.delete(e);
      e.left--;
      if (e.left > 0) this.bucket(e.left).add(e);
      else this.byName.delete(e.update.name);
      out.push(e.update);
    }
    taken.length = 0;
    return out;
  }

  private bucket(left: number): Set<GossipEntry> {
    let b = this.buckets[left];
    if (b === undefined) {
      for (let i = this.buckets.length; i <= left; i++) this.buckets.push(new Set());
      b = this.buckets[left] as Set<GossipEntry>;
    }
    return b;
  }
}

/**
 * Up to `k` distinct names of `names` for which `ok` holds, drawn at random: all of them when at most
 * k qualify. A few draws when most qualify (the stall check runs when a node may be starved: no copy
 * of the list then), the scan otherwise. O(k) expected when most qualify, O(n) at worst.
 */
export function sampleMembers(names: readonly string[], k: number, ok: (name: string) => boolean, random: () => number): string[] {
  const out: string[] = [];
  if (k >= names.length) {
    for (const n of names) if (ok(n)) out.push(n);
    return out;
  }
  const taken = new Set<string>();
  for (let tries = 0; out.length < k && tries < 4 * k + 8; tries++) {
    const n = names[Math.floor(random() * names.length)] as string;
    if (!taken.has(n) && ok(n)) {
      taken.add(n);
      out.push(n);
    }
  }
  if (out.length === k) return out;
  const pool = names.filter((n) => !taken.has(n) && ok(n));
  while (out.length < k && pool.length > 0) out.push(pool.splice(Math.floor(random() * pool.length), 1)[0] as string);
  return out;
}

/** How many times each update is piggybacked (SWIM's lambda log n, at least 3). */
function retransmits(n: number): number {
  return Math.max(3, Math.ceil(3 * Math.log10(n + 1)));
}

export class Swim {
  private readonly opts: Required<SwimOptions>;
  private readonly members = new Map<string, Member>();
  private readonly listeners: Array<(c: SwimChange) => void> = [];
  /** Updates to piggyback, with the sends left each; at most one per member. */
  private readonly gossip = new GossipQueue();
  /**
   * For each member we suspect: the members we sent that suspicion to (at most 2 x retransmits(n)
   * names; see the header, the refutation retraced). Dropped when the suspicion ends.
   */
  private readonly suspicionSent = new Map<string, string[]>();
  private readonly probes = new Map<number, Probe>();
  private order: string[] = [];
  /** The member names in an array (pick samples it), kept in step with `members` (Member.index: O(1) removal). */
  private readonly nameList: string[] = [];
  /** Members appeared while we ran and not heard from yet (see the header, joining). */
  private readonly joiningSet = new Set<string>();
  /** The members we hold dead (Member.deadIndex: O(1) removal): what a member heard first is told (see the header, verdicts). */
  private readonly deadList: string[] = [];
  private readonly answerListeners: Array<(name: string) => void> = [];
  private readonly joiningListeners: Array<(name: string, joining: boolean) => void> = [];
  /** When start() last ran (a member known before our start gets its grace from then). */
  private startedAt = 0;
  private seq = 0;
  private incarnation = 0;
  private periodTimer: TimerHandle | undefined;
  private running = false;
  private quorumTimer: TimerHandle | undefined;
  private quorum = true;
  // The quorum's two counts, kept up to date on transitions instead of a scan of every member per
  // check (4 checks and a probe per period: at 1,000 members the scans were most of the state
  // machine's work). Both lists are in append order, which is time order: lastHeard and askedAt
  // are only ever set to now() (the clock is monotonic). `heardList`: members heard within
  // quorumWindowMs (reachable = its size), oldest first. `asking`: members asked and silent for at
  // most probeTimeoutMs so far, oldest ask first. `unreachable`: members aged out of `asking`
  // (still silent), not in `heardList`, not dead.
  private readonly heardList = new TimeList();
  private readonly asking = new TimeList();
  private unreachable = 0;
  /** Local time this last ran (any timer, message or awake()). */
  private lastRun = 0;
  /**
   * Set by a stall (or recheck): the members whose answer to our check we wait for, those asked so far
   * in it (each once), and the time-out.
   */
  private stall: { waiting: Set<string>; asked: Set<string>; timer: TimerHandle; toSend: string[]; sentThisTurn: number; pump: TimerHandle | undefined } | undefined;
  private readonly stallListeners: Array<(stalled: boolean, gapMs: number) => void> = [];
  private readonly quorumListeners: Array<(quorum: boolean) => void> = [];
  /**
   * Counters (metrics). `ignoredStopped`: messages that arrived while stopped (or not started yet), unread.
   * `stallAsks`: pings sent by stall checks and rechecks (see the header: bounded per check).
   */
  readonly counts = { sent: 0, received: 0, suspicions: 0, deaths: 0, refutations: 0, stalls: 0, stallAsks: 0, ignoredStopped: 0, verdictsTold: 0 };

  constructor(opts: SwimOptions) {
    for (const k of ['periodMs', 'probeTimeoutMs', 'suspicionMs'] as const) {
      if (!(opts[k] > 0)) throw new RangeError(`${k}: must be positive, got ${opts[k]}`);
    }
    for (const k of ['stallSample', 'stallAsksPerTurn'] as const) {
      const v = opts[k];
      if (v !== undefined && !(Number.isInteger(v) && v >= 1)) throw new RangeError(`${k}: must be a positive integer, got ${v}`);
    }
    if (opts.probeTimeoutMs >= opts.periodMs) throw new RangeError(`probeTimeoutMs ${opts.probeTimeoutMs} must be below periodMs ${opts.periodMs}`);
    this.opts = {
      random: Math.random,
      ...opts,
      quorumWindowMs: opts.quorumWindowMs ?? 1.5 * opts.periodMs + opts.probeTimeoutMs,
      stallMs: opts.stallMs ?? opts.suspicionMs,
      stallSample: opts.stallSample ?? 16,
      stallAsksPerTurn: opts.stallAsksPerTurn ?? 4,
      joinGraceMs: opts.joinGraceMs ?? 10_000,
    };
  }

  /** Member state changes; a change about `self` means others declared us suspect or dead. */
  onChange(listener: (c: SwimChange) => void): void {
    this.listeners.push(listener);
  }

  /** A stall began (`gapMs`: how long this did not run) or ended (a member answered; gapMs 0). */
  onStall(listener: (stalled: boolean, gapMs: number) => void): void {
    this.stallListeners.push(listener);
  }

  /**
   * Notes that this process runs now; detects a stall (see the header). The speaker calls it before
   * answering for a VIP, since its queued requests are read before any timer of ours runs.
   */
  awake(): void {
    if (!this.running) return;
    const now = this.opts.clock.now();
    const gap = now - this.lastRun;
    this.lastRun = now;
    if (this.stall !== undefined && !this.anyoneToAnswer()) this.endStall();
    if (gap <= this.opts.stallMs || this.stall !== undefined || !this.anyoneToAnswer()) return;
    this.counts.stalls++;
    this.askForVerdicts(gap);
  }

  /**
   * Asks members for their verdict on us and is `stalled` until each answered (or periodMs +
   * suspicionMs), as after a stall (whom: see the header, the stall check). For a node that lost the quorum and is about to be vouched for
   * by a Lease renewal: the others may have declared it dead meanwhile, and a link that comes back
   * can carry the renewal (TCP retransmitting it) before any of their answers; once they answered
   * with no verdict, or could not (still cut off: the renewal then vouches alone), it may answer.
   * Listeners hear a stall with gapMs 0.
   */
  recheck(): void {
    if (!this.running || this.stall !== undefined || !this.anyoneToAnswer()) return;
    this.askForVerdicts(0);
  }

  /** The stall check (see the header): stallSample random members not dead now, more as requests are read. */
  private askForVerdicts(gap: number): void {
    this.stall = { waiting: new Set(), asked: new Set(), timer: this.opts.clock.setTimeout(() => this.endStall(), this.opts.periodMs + this.opts.suspicionMs), toSend: [], sentThisTurn: 0, pump: undefined };
    // A refutation in advance: ends the suspicions of us at our old incarnation, wherever its gossip reaches.
    this.incarnation++;
    this.queue({ name: this.opts.self, state: 'alive', incarnation: this.incarnation });
    for (const l of [...this.stallListeners]) l(true, gap);
    for (const name of sampleMembers(this.nameList, this.opts.stallSample, (n) => this.members.get(n)?.state !== 'dead', this.opts.random)) this.askAlso(name, false);
    this.pumpAsks();
  }

  /** Asks `name` for its verdict in the running stall check, once per check (see the header). */
  private askAlso(name: string, now = true): void {
    const stall = this.stall;
    if (stall === undefined || stall.asked.has(name)) return;
    const m = this.members.get(name);
    if (m === undefined || m.state === 'dead') return;
    stall.asked.add(name);
    stall.waiting.add(name);
    stall.toSend.push(name);
    if (now) this.pumpAsks();
  }

  /**
   * Sends up to stallAsksPerTurn of the check's pings, and holds the rest for the next turn (a timer of
   * 0 ms, after the queued I/O): a node's check never costs one turn more than a few datagrams. One node
   * alone sends its 16-odd in a few milliseconds; the simulator's 250 members a process, all stalled by
   * one pause, would otherwise send all of theirs in one turn, long enough to stall them all again.
   */
  private pumpAsks(): void {
    const stall = this.stall;
    if (stall === undefined) return;
    while (stall.toSend.length > 0 && stall.sentThisTurn < this.opts.stallAsksPerTurn) {
      const name = stall.toSend.shift() as string;
      const state = this.members.get(name)?.state;
      if (state === undefined || state === 'dead') {
        stall.waiting.delete(name);
        continue;
      }
      stall.sentThisTurn++;
      this.counts.stallAsks++;
      const seq = this.nextSeq();
      this.probes.set(seq, { seq, target: name, acked: false, helpers: 0, helperAnswered: false, stallCheck: true, timer: undefined });
      this.sendTo(name, 'ping', seq, name);
    }
    // The turn's share is counted until the next turn (a 0 ms timer runs after the queued I/O).
    if (stall.sentThisTurn > 0 && stall.pump === undefined) {
      stall.pump = this.opts.clock.setTimeout(() => {
        if (this.stall !== stall) return;
        stall.pump = undefined;
        stall.sentThisTurn = 0;
        this.pumpAsks();
      }, 0);
    }
    if (stall.waiting.size === 0) this.endStall();
  }

  /** Some member could answer us (alone, or with every other member dead, nobody took over). */
  private anyoneToAnswer(): boolean {
    for (const m of this.members.values()) if (m.state !== 'dead') return true;
    return false;
  }

  private endStall(): void {
    if (!this.stall) return;
    this.opts.clock.clearTimeout(this.stall.timer);
    if (this.stall.pump !== undefined) this.opts.clock.clearTimeout(this.stall.pump);
    this.stall = undefined;
    for (const [seq, p] of this.probes) if (p.stallCheck) this.probes.delete(seq);
    // The quorum as it stands now, before anyone hears the stall ended (see checkQuorum).
    if (this.running) this.reportQuorum();
    for (const l of [...this.stallListeners]) l(false, 0);
  }

  /** True while a stall has not been answered for (see the header). */
  get stalled(): boolean {
    return this.stall !== undefined;
  }

  /** Quorum lost (false) or regained (true); checked every periodMs / 4. */
  onQuorumChange(listener: (quorum: boolean) => void): void {
    this.quorumListeners.push(listener);
  }

  /**
   * The members, as the Leases say (self may be included; it is ignored): added and removed as by
   * addMember / removeMember, so O(n) for the whole list. `rejoined` names members whose Lease shows
   * a new life (rejoin). The speaker calls the per-member methods on each Lease change instead.
   */
  setMembers(names: Iterable<string>, rejoined: Iterable<string> = []): void {
    const wanted = new Set(names);
    wanted.delete(this.opts.self);
    for (const name of [...this.members.keys()]) if (!wanted.has(name)) this.removeMember(name);
    for (const name of wanted) this.addMember(name);
    for (const name of rejoined) this.rejoin(name);
  }

  /**
   * A member's Lease appeared: it starts alive, as if just heard from (the quorum), in its grace until
   * we hear from it, and `joining` (see the header; default: while we run) until then. The speaker
   * passes false for the Leases of its first list: peers it learns at its start are not new. O(1).
   */
  addMember(name: string, joining = this.running): void {
    if (name === this.opts.self || this.members.has(name)) return;
    const now = this.opts.clock.now();
    const m = new Member(now, now);
    m.index = this.nameList.length;
    this.nameList.push(name);
    this.members.set(name, m);
    this.heardList.append(m.heardLink);
    this.setLate(name, m, joining);
  }

  /** A member's Lease is gone: forgotten. O(1). */
  removeMember(name: string): void {
    const m = this.members.get(name);
    if (!m) return;
    if (m.suspectTimer) this.opts.clock.clearTimeout(m.suspectTimer);
    this.members.delete(name);
    this.gossip.delete(name);
    this.suspicionSent.delete(name);
    this.heardList.remove(m.heardLink);
    this.asking.remove(m.askLink);
    if (m.counted) this.unreachable--;
    m.counted = false;
    this.listDead(name, m, false);
    // Swap-remove from the name list.
    const last = this.nameList.pop() as string;
    if (last !== name) {
      this.nameList[m.index] = last;
      (this.members.get(last) as Member).index = m.index;
    }
    this.setLate(name, m, false);
  }

  /**
   * A member's Lease shows a new life: its old verdict (dead) does not apply to the new process, which
   * may not answer yet (a speaker starts its state machine after its first renewal): joining again. O(1).
   */
  rejoin(name: string, joining = this.running): void {
    const m = this.members.get(name);
    if (!m) return;
    m.heard = false;
    m.addedAt = this.opts.clock.now();
    // Not asked in the new life yet: an ask pending from the old one says nothing about it.
    this.asking.remove(m.askLink);
    m.askedAt = undefined;
    m.aged = false;
    this.refreshQuorum(m);
    // Alive again without gossip: every member sees the Lease, and an alive update would read as "heard
    // from it" (firstHeard) while the new process may not answer yet; its old life's death is not spread further.
    this.gossip.delete(name);
    this.suspicionSent.delete(name);
    if (m.suspectTimer) this.opts.clock.clearTimeout(m.suspectTimer);
    m.suspectTimer = undefined;
    const was = m.state;
    m.state = 'alive';
    this.listDead(name, m, false);
    this.refreshQuorum(m);
    if (was !== 'alive') for (const l of [...this.listeners]) l({ name, state: 'alive' });
    this.setLate(name, m, joining);
  }

  /**
   * Members that appeared (or began a new life) as joining and have not been heard from since: the
   * speaker counts none of them for VIP ownership (a VIP must not move to a node that does not answer
   * yet). Members known at our start are not in it (a starting speaker that excluded every peer until
   * heard would take every VIP).
   */
  joining(): ReadonlySet<string> {
    return this.joiningSet;
  }

  /** A member became joining (true) or was heard from, or left, while joining (false). */
  onJoining(listener: (name: string, joining: boolean) => void): void {
    this.joiningListeners.push(listener);
  }

  /** Whether we heard from `name` in its current life (undefined: not a member). */
  heardFrom(name: string): boolean | undefined {
    return this.members.get(name)?.heard;
  }

  /**
   * A member answered a request of ours (an ack or nack to our ping or ping-req, an asked one
   * included): it received our message, so it has heard from us (see the header, claims).
   */
  onAnswer(listener: (name: string) => void): void {
    this.answerListeners.push(listener);
  }

  /**
   * Pings `name` now, outside the round-robin, for its answer only (onAnswer): its silence starts no
   * suspicion. The speaker asks the node it would take a VIP from (liveness-gate.ts). False when it
   * cannot be asked (not running, not a member, dead).
   */
  ask(name: string): boolean {
    const m = this.members.get(name);
    if (!this.running || !m || m.state === 'dead') return false;
    this.awake();
    const seq = this.nextSeq();
    const probe: Probe = { seq, target: name, acked: false, helpers: 0, helperAnswered: false, asked: true, timer: undefined };
    // Kept one period for its ack; never judged (finish() is not called for it).
    probe.timer = this.opts.clock.setTimeout(() => this.probes.delete(seq), this.opts.periodMs);
    this.probes.set(seq, probe);
    this.sendTo(name, 'ping', seq, name);
    return true;
  }

  private setLate(name: string, m: Member, late: boolean): void {
    m.late = late;
    const joining = late && !m.heard && this.members.get(name) === m;
    if (joining === this.joiningSet.has(name)) return;
    if (joining) this.joiningSet.add(name);
    else this.joiningSet.delete(name);
    for (const l of [...this.joiningListeners]) l(name, joining);
  }

  /** Not heard from in its life and within its grace (see the header): no suspicion, no ask counted. */
  private inGrace(m: Member): boolean {
    return !m.heard && this.opts.clock.now() < Math.max(m.addedAt, this.startedAt) + this.opts.joinGraceMs;
  }

  /**
   * First news of `m` in its life: it answers. A member that was joining is gossiped alive, so that
   * every member counts it for ownership within O(log n) periods, not only those that talk to it.
   */
  private firstHeard(name: string, m: Member): void {
    if (m.heard || m.state === 'dead') return;
    m.heard = true;
    if (!m.late) return;
    this.queue({ name, state: 'alive', incarnation: m.incarnation });
    this.setLate(name, m, false);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.lastRun = this.opts.clock.now();
    this.startedAt = this.lastRun;
    this.schedulePeriod();
    this.checkQuorum();
  }

  private checkQuorum(): void {
    if (!this.running) return;
    this.awake();
    // Stalled, the quorum is not reported: the node answers nothing meanwhile anyway, and its heard
    // list aged during the pause, so every stall would read as a quorum loss (a fast Lease write and a
    // recheck for nothing: the simulator's 250 members a process made 250 at once). It is reported
    // when the stall ends, before the node may answer again.
    if (this.stall === undefined) this.reportQuorum();
    this.quorumTimer = this.opts.clock.setTimeout(() => this.checkQuorum(), this.opts.periodMs / 4);
  }

  private reportQuorum(): void {
    const q = this.hasQuorum();
    if (q !== this.quorum) {
      this.quorum = q;
      for (const l of [...this.quorumListeners]) l(q);
    }
  }



  stop(): void {
    this.running = false;
    if (this.periodTimer) this.opts.clock.clearTimeout(this.periodTimer);
    if (this.quorumTimer) this.opts.clock.clearTimeout(this.quorumTimer);
    for (const p of this.probes.values()) if (p.timer) this.opts.clock.clearTimeout(p.timer);
    this.probes.clear();
    for (const m of this.members.values()) if (m.suspectTimer) this.opts.clock.clearTimeout(m.suspectTimer);
    if (this.stall) this.opts.clock.clearTimeout(this.stall.timer);
    if (this.stall?.pump !== undefined) this.opts.clock.clearTimeout(this.stall.pump);
    this.stall = undefined;
  }

  state(name: string): MemberState | undefined {
    return this.members.get(name)?.state;
  }

  /** Members declared dead (their VIPs may be taken over, when we have quorum). */
  dead(): string[] {
    const out: string[] = [];
    for (const [name, m] of this.members) if (m.state === 'dead') out.push(name);
    return out.sort();
  }

  /**
   * 1 + members heard from > members asked and silent, over quorumWindowMs (see the header): reachable
   * means now - lastHeard <= quorumWindowMs; unreachable means not reachable, not dead, asked after it
   * was last heard (askedAt > lastHeard) and more than probeTimeoutMs ago. O(1) amortized: the counts
   * follow the transitions (heard, asked, state, membership) and time only ages entries out of the
   * two time-ordered sets here.
   */
  hasQuorum(): boolean {
    const now = this.opts.clock.now();
    for (let m = this.heardList.oldest(); m !== undefined && now - m.lastHeard > this.opts.quorumWindowMs; m = this.heardList.oldest()) {
      this.heardList.remove(m.heardLink);
      this.refreshQuorum(m);
    }
    for (let m = this.asking.oldest(); m !== undefined && now - (m.askedAt as number) > this.opts.probeTimeoutMs; m = this.asking.oldest()) {
      this.asking.remove(m.askLink);
      m.aged = true;
      this.refreshQuorum(m);
    }
    return 1 + this.heardList.size > this.unreachable;
  }

  /** Recounts `m` in `unreachable` after any of its inputs changed (the one place that does). */
  private refreshQuorum(m: Member): void {
    const counted = m.aged && m.state !== 'dead' && !m.heardLink.linked;
    if (counted !== m.counted) this.unreachable += counted ? 1 : -1;
    m.counted = counted;
  }

  /** We received from `m`: it is reachable, and no ask of it is pending any more. */
  private heard(name: string, m: Member): void {
    // First heard from (directly) in a life that began while we ran: it has just started, tell it our verdicts.
    if (!m.heard && m.late && m.state !== 'dead') this.tellVerdicts(name);
    this.firstHeard(name, m);
    m.lastHeard = this.opts.clock.now();
    this.heardList.append(m.heardLink);
    this.asking.remove(m.askLink);
    m.aged = false;
    this.refreshQuorum(m);
  }

  /** Pending probes and gossip entries (bounded: tests check it). */
  get pending(): { probes: number; gossip: number; suspicionsTold: number } {
    return { probes: this.probes.size, gossip: this.gossip.size, suspicionsTold: this.suspicionSent.size };
  }

  /**
   * An authenticated, decoded message arrived (the transport verified the MAC and decoded it).
   * Stopped (or not started yet) this node takes no part: it answers nothing and learns nothing
   * (a fenced speaker stops its Swim so that the others declare it dead; README: Scale, the Lease
   * split); such messages are only counted.
   */
  receive(m: Message): void {
    if (!this.running) {
      this.counts.ignoredStopped++;
      return;
    }
    const sender = this.members.get(m.from);
    // Not a member per the Leases: ignore it entirely (bounded state: strangers cost nothing).
    if (!sender) return;
    this.awake();
    this.counts.received++;
    this.heard(m.from, sender);
    if (sender.state === 'dead') {
      // Death is final for this life (its VIPs were handed over): only a new Lease life revives it
      // (setMembers rejoined). Tell it, so that it starts that new life.
      if (m.type === 'ping' || m.type === 'pingReq') {
        this.counts.sent++;
        // At the incarnation it states now: a member resumed from a freeze may have refuted a suspicion
        // from its queued gossip meanwhile, and would ignore a verdict at its older incarnation.
        this.opts.send(m.from, { type: m.type === 'ping' ? 'ack' : 'nack', seq: m.seq, incarnation: this.incarnation, from: this.opts.self, target: m.target, updates: [{ name: m.from, state: 'dead', incarnation: Math.max(m.incarnation, sender.incarnation) }] });
      }
      return;
    }
    // Any message from a member is proof it lives (a suspicion ends), at the incarnation it states.
    if (sender.state !== 'alive' || m.incarnation > sender.incarnation) this.setState(m.from, sender, 'alive', Math.max(m.incarnation, sender.incarnation));
    for (const u of m.updates) this.applyUpdate(u);
    // An answer to a request of ours (ours, relayed or asked): the sender received it, so it heard us
    // (see the header, claims). After the updates: a sender that holds us dead told us so first.
    if ((m.type === 'ack' || m.type === 'nack') && this.probes.has(m.seq)) for (const l of [...this.answerListeners]) l(m.from);
    // Stalled: a member that pinged us (it may be the prober whose suspicion becomes a verdict) or
    // that holds a suspicion or death of us is asked too (see the header, the stall check).
    // (A ping is always for its addressee: versions 2 and 3 carry no target in it.)
    if (this.stall !== undefined && (m.type === 'ping' || m.updates.some((u) => u.name === this.opts.self && u.state !== 'alive'))) this.askAlso(m.from);
    switch (m.type) {
      case 'ping':
        this.sendTo(m.from, 'ack', m.seq, m.target);
        break;
      case 'pingReq': {
        if (!this.members.has(m.target) || this.probes.size >= 4 * (this.members.size + 1)) {
          this.sendTo(m.from, 'nack', m.seq, m.target);
          break;
        }
        const seq = this.nextSeq();
        const probe: Probe = { seq, target: m.target, acked: false, helpers: 0, helperAnswered: false, relayFor: { requester: m.from, seq: m.seq }, timer: undefined };
        // The nack must reach the requester before its period ends (it judges then).
        probe.timer = this.opts.clock.setTimeout(() => {
          this.probes.delete(seq);
          this.sendTo(m.from, 'nack', m.seq, m.target);
        }, (this.opts.periodMs - this.opts.probeTimeoutMs) / 2);
        this.probes.set(seq, probe);
        this.sendTo(m.target, 'ping', seq, m.target);
        break;
      }
      case 'ack': {
        const probe = this.probes.get(m.seq);
        if (!probe) break;
        if (probe.stallCheck) {
          this.probes.delete(m.seq);
          this.stall?.waiting.delete(m.from);
          if (this.stall?.waiting.size === 0) this.endStall();
          break;
        }
        // The target answered (to us directly, or a relay forwarding it).
        const target = this.members.get(probe.target);
        if (target && m.from === probe.target) this.heard(probe.target, target);
        if (probe.relayFor) {
          if (probe.timer) this.opts.clock.clearTimeout(probe.timer);
          this.probes.delete(m.seq);
          this.sendTo(probe.relayFor.requester, 'ack', probe.relayFor.seq, probe.target);
        } else {
          probe.acked = true;
          if (m.from !== probe.target) probe.helperAnswered = true;
          if (target && target.state === 'suspect') this.setState(probe.target, target, 'alive', target.incarnation);
        }
        break;
      }
      case 'nack': {
        const probe = this.probes.get(m.seq);
        if (probe && !probe.relayFor) probe.helperAnswered = true;
        break;
      }
    }
  }

  // ---- the protocol period ----------------------------------------------------------------------

  private schedulePeriod(): void {
    if (!this.running) return;
    this.periodTimer = this.opts.clock.setTimeout(() => this.period(), this.opts.periodMs);
  }

  private nextTarget(): string | undefined {
    // Round-robin over a fresh random permutation: every member probed within n periods.
    for (let tries = 0; tries < 2; tries++) {
      while (this.order.length > 0) {
        const name = this.order.pop() as string;
        const m = this.members.get(name);
        if (m && m.state !== 'dead') return name;
      }
      this.order = [...this.members.keys()];
      for (let i = this.order.length - 1; i > 0; i--) {
        const j = Math.floor(this.opts.random() * (i + 1));
        [this.order[i], this.order[j]] = [this.order[j] as string, this.order[i] as string];
      }
    }
    return undefined;
  }

  private period(): void {
    this.awake();
    this.schedulePeriod();
    const target = this.nextTarget();
    if (target === undefined) return;
    const seq = this.nextSeq();
    const probe: Probe = { seq, target, acked: false, helpers: 0, helperAnswered: false, timer: undefined, sentWithQuorum: this.hasQuorum(), sentInGrace: this.inGrace(this.members.get(target) as Member) };
    this.probes.set(seq, probe);
    this.sendTo(target, 'ping', seq, target);
    probe.timer = this.opts.clock.setTimeout(() => {
      this.awake();
      if (probe.acked) return this.finish(probe);
      // No direct ack: ask others to probe it, and judge at the end of the period.
      const helpers = this.pick(this.opts.indirect, target);
      probe.helpers = helpers.length;
      for (const h of helpers) this.sendTo(h, 'pingReq', seq, target);
      probe.timer = this.opts.clock.setTimeout(() => this.finish(probe), this.opts.periodMs - this.opts.probeTimeoutMs);
    }, this.opts.probeTimeoutMs);
  }

  private finish(probe: Probe): void {
    this.awake();
    this.probes.delete(probe.seq);
    if (probe.acked) return;
    const m = this.members.get(probe.target);
    if (!m || m.state !== 'alive') return;
    // Joining (see the header): its silence may be its start, not its death (and an ask sent in the
    // grace was not counted for the quorum, so the quorum checked below would not cover it).
    if (probe.sentInGrace === true || this.inGrace(m)) return;
    // A node without quorum (now, or when it sent the probe: a link that comes back mid-period would
    // otherwise turn the ping it lost into a suspicion), or whose helpers were silent too, is the
    // likelier one cut off. The target cannot refute: it holds us dead and reads none of our gossip.
    if (this.stall !== undefined || !this.hasQuorum() || probe.sentWithQuorum === false || (probe.helpers > 0 && !probe.helperAnswered)) return;
    this.setState(probe.target, m, 'suspect', m.incarnation);
  }

  /**
   * Up to `k` distinct random alive members other than `except`. By sampling the member list (a few
   * draws, no copy): this runs on every missed direct ack, and a copy of the whole list each time
   * cost O(n) (at 1,000 members, ~1,000 entries copied, filtered and mapped per miss, which a loaded
   * host turns into more misses). Falls back to the scan when sampling finds too few (most members
   * not alive).
   */
  private pick(k: number, except: string): string[] {
    const out: string[] = [];
    const names = this.nameList;
    for (let tries = 0; out.length < k && tries < 4 * k + 8 && names.length > 0; tries++) {
      const n = names[Math.floor(this.opts.random() * names.length)] as string;
      if (n !== except && this.members.get(n)?.state === 'alive' && !out.includes(n)) out.push(n);
    }
    if (out.length === k) return out;
    const pool = names.filter((n) => n !== except && this.members.get(n)?.state === 'alive' && !out.includes(n));
    while (out.length < k && pool.length > 0) out.push(pool.splice(Math.floor(this.opts.random() * pool.length), 1)[0] as string);
    return out;
  }

  // ---- member states (all transitions here) ------------------------------------------------------

  private applyUpdate(u: Update): void {
    if (u.name === this.opts.self) {
      // Suspected ourselves: refute with a higher incarnation. Declared dead: reported whatever its
      // incarnation (death is final for a life, and we may have refuted a suspicion from queued
      // gossip since, after a freeze): the others handed our VIPs over, the speaker starts a new life.
      if (u.state === 'dead' || (u.state === 'suspect' && u.incarnation >= this.incarnation)) {
        this.incarnation = Math.max(this.incarnation, u.incarnation + 1);
        this.counts.refutations++;
        this.queue({ name: this.opts.self, state: 'alive', incarnation: this.incarnation });
        for (const l of [...this.listeners]) l({ name: this.opts.self, state: u.state });
      }
      return;
    }
    const m = this.members.get(u.name);
    if (!m) return;
    // SWIM's precedence: alive overrides suspect only with a higher incarnation (a refutation);
    // suspect overrides alive at an equal or higher one; dead overrides both and is final for this
    // life (the Lease's next life, setMembers rejoined, revives the member).
    if (m.state === 'dead') return;
    // A member that heard it says it is alive: it answers (the news of a join, spread by firstHeard).
    if (u.state === 'alive') this.firstHeard(u.name, m);
    if (u.state === 'alive' && u.incarnation > m.incarnation) this.setState(u.name, m, 'alive', u.incarnation);
    else if (u.state === 'suspect' && m.state === 'alive' && u.incarnation >= m.incarnation) this.setState(u.name, m, 'suspect', u.incarnation);
    else if (u.state === 'dead') this.setState(u.name, m, 'dead', Math.max(u.incarnation, m.incarnation));
  }

  private setState(name: string, m: Member, state: MemberState, incarnation: number): void {
    if (m.suspectTimer) this.opts.clock.clearTimeout(m.suspectTimer);
    m.suspectTimer = undefined;
    const changed = m.state !== state;
    const told = m.state === 'suspect' && state !== 'suspect' ? this.suspicionSent.get(name) : undefined;
    if (m.state === 'suspect' && state !== 'suspect') this.suspicionSent.delete(name);
    m.state = state;
    m.incarnation = incarnation;
    this.listDead(name, m, state === 'dead');
    this.refreshQuorum(m);
    if (state === 'suspect') {
      if (changed) this.counts.suspicions++;
      m.suspectTimer = this.opts.clock.setTimeout(() => {
        m.suspectTimer = undefined;
        if (this.members.get(name) === m && m.state === 'suspect') this.setState(name, m, 'dead', m.incarnation);
      }, this.opts.suspicionMs);
    }
    if (state === 'dead' && changed) this.counts.deaths++;
    this.queue({ name, state, incarnation });
    // The refutation retraced (see the header): the members we told of the suspicion hear it ended
    // now, not in O(log n) periods of gossip, and pass it on to those they told. An ack matching no
    // probe (seq 0): the receiver applies its updates and nothing else.
    if (state === 'alive' && told !== undefined) for (const to of told) if (to !== name && this.members.has(to) && this.members.get(to)?.state !== 'dead') this.sendTo(to, 'ack', 0, name);
    if (changed) for (const l of [...this.listeners]) l({ name, state });
  }

  private queue(update: Update): void {
    this.gossip.set(update, retransmits(this.members.size + 1));
  }

  /** Up to MAX_UPDATES updates to piggyback, the least sent first; each counts down and leaves at 0. */
  private takeUpdates(): readonly Update[] {
    // Nothing to gossip, the steady state: no arrays made per message.
    if (this.gossip.size === 0) return NO_UPDATES;
    return this.gossip.take(MAX_UPDATES);
  }

  private nextSeq(): number {
    // Never 0: the seq of tellVerdicts' datagrams, which answer no request.
    this.seq = (this.seq + 1) >>> 0 || 1;
    return this.seq;
  }

  /** `m` entered or left the dead state: kept in deadList (O(1) both ways). */
  private listDead(name: string, m: Member, dead: boolean): void {
    if (dead === m.deadIndex >= 0) return;
    if (dead) {
      m.deadIndex = this.deadList.length;
      this.deadList.push(name);
      return;
    }
    const last = this.deadList.pop() as string;
    if (last !== name) {
      this.deadList[m.deadIndex] = last;
      (this.members.get(last) as Member).deadIndex = m.deadIndex;
    }
    m.deadIndex = -1;
  }

  /**
   * Tells `to`, heard from for the first time in its life, up to MAX_UPDATES of our death verdicts
   * (from a random place in the list, so that several peers tell a newcomer different ones): one
   * datagram (an ack of seq 0, which answers no request), only when we hold any (see the header).
   */
  private tellVerdicts(to: string): void {
    const n = this.deadList.length;
    if (n === 0) return;
    const updates: Update[] = [];
    const from = Math.floor(this.opts.random() * n);
    for (let i = 0; i < n && updates.length < MAX_UPDATES; i++) {
      const name = this.deadList[(from + i) % n] as string;
      const m = this.members.get(name);
      if (name !== to && m) updates.push({ name, state: 'dead', incarnation: m.incarnation });
    }
    if (updates.length === 0) return;
    this.counts.sent++;
    this.counts.verdictsTold += updates.length;
    this.opts.send(to, { type: 'ack', seq: 0, incarnation: this.incarnation, from: this.opts.self, target: to, updates });
  }

  private sendTo(to: string, type: Message['type'], seq: number, target: string): void {
    this.counts.sent++;
    const m = this.members.get(to);
    // A joining member's silence within its grace says nothing about our reach either: not counted.
    if (m && (type === 'ping' || type === 'pingReq') && (m.askedAt === undefined || m.askedAt <= m.lastHeard) && !this.inGrace(m)) {
      m.askedAt = this.opts.clock.now();
      // Pending only when asked after it was last heard (not within the same millisecond).
      if (m.askedAt > m.lastHeard) this.asking.append(m.askLink);
    }
    const updates = this.takeUpdates();
    for (const u of updates) if (u.state === 'suspect' && u.name !== to) this.noteSuspicionSent(u.name, to);
    this.opts.send(to, { type, seq, incarnation: this.incarnation, from: this.opts.self, target, updates });
  }

  private noteSuspicionSent(name: string, to: string): void {
    if (this.members.get(name)?.state !== 'suspect') return;
    let sentTo = this.suspicionSent.get(name);
    if (sentTo === undefined) this.suspicionSent.set(name, (sentTo = []));
    if (sentTo.length < 2 * retransmits(this.members.size + 1) && !sentTo.includes(to)) sentTo.push(to);
  }
}
