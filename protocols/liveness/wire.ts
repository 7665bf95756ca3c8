// Which wire version goes to which peer, and the checks on what arrives beyond the codec's (replays,
// downgrades). Pure: the UDP transport and the scale simulator both seal and open through it.
//
// Upgrade rule (old and new speakers mixed during a rolling upgrade, no false suspicion):
// - A new speaker reads both versions and advertises the newest on its Lease (speaker-lease.ts,
//   annotation herald.io/liveness-wire, bound to the Lease's life so that an older speaker that takes
//   the Lease over, keeping unknown annotations, does not inherit it). An old speaker reads version 1
//   only and advertises nothing.
// - To a peer whose Lease advertises version 2, send version 2. To any other peer, send the version
//   it last spoke to us (a new speaker whose Lease we have not seen yet answers in kind from its
//   first message), else version 1. So an old speaker is never sent what it cannot read, whatever
//   the order in which the Leases are seen.
// - Version 1 is refused (counted, `Downgrade`) from a peer whose Lease advertises version 2 and
//   that has spoken version 2 to us: version 1 has no replay protection, and such a peer sends it
//   only from a view of our Lease older than our start (we restarted into version 2 and it has not
//   seen our Lease yet), which ends with the first version 2 datagram we send it, or it sees ours.
//   So once every speaker is upgraded and has spoken, a recorded version 1 datagram is worth nothing.
// - Version 3 (node ids instead of names, message.ts) is negotiated the same way: to a peer whose
//   Lease advertises version v >= 2, send min(v, our newest); to one that advertises nothing, the
//   version it last spoke to us (a version 3 speaker whose Lease we have not seen yet answers in
//   kind), else version 1. So a version 2 speaker is never sent version 3 (its Lease says 2, or it
//   spoke 2), and during a 2 -> 3 upgrade each pair speaks the older of the two. Versions 2 and 3
//   share the sender's stamp counter and the receiver's replay window (per sender name, whatever the
//   version), so a recorded version 2 datagram of a version 3 speaker is as much a replay as a
//   version 3 one: no downgrade rule beyond version 1's is needed.
// - Version 2 carries the sender's stamp, strictly increasing: (wall ms x 16) or the last + 1, so it
//   goes on increasing across the sender's restarts as long as its wall clock does not step back
//   further than the restart took. The receiver keeps, per sender, the highest stamp seen and which
//   of the REPLAY_WINDOW before it were seen; a stamp seen already or older than that is a `Replay`.
//   State per sender is kept for names that were peers (bounded, MAX_TRACKED); a receiver that just
//   started trusts the first stamp it gets from a sender (it has nothing to compare with).
import { encode, LivenessError, MAX_LENGTH, MAX_STAMP, open, VERSIONS, type Datagram, type LivenessErrorCode, type Message, type WireVersion, LivenessKey } from './message.js';
import { NodeIds } from './node-ids.js';

export type WireDropReason = LivenessErrorCode | 'tooLong' | 'Replay' | 'Downgrade';

/** Stamps before the highest seen that may still arrive (reordering): about 4 ms of the sender's time. Kept as two 32-bit words (Seen): 64 exactly. */
export const REPLAY_WINDOW = 64;
/** Senders whose replay state is kept at most (names that were peers; the oldest forgotten first). */
export const MAX_TRACKED = 65_536;
/** Stamp units per wall-clock millisecond. */
export const STAMPS_PER_MS = 16;

export interface LivenessWireOptions {
  secret: Buffer;
  /** This node's name (version 3 names it, and reads updates about it, by its id). */
  self: string;
  /** The versions this speaker reads and sends (default: all). [1] behaves as a speaker from before version 2, [1, 2] as one from before version 3. */
  versions?: readonly WireVersion[];
  /** Wall-clock milliseconds (stamps): default Date.now. */
  wallNow?: () => number;
}

export type Opened = { ok: true; datagram: Datagram } | { ok: false; reason: WireDropReason };

interface Peer {
  /** The newest version its current Lease advertises (1: none). */
  advertised: WireVersion;
  /** The version of the last authenticated datagram it sent us. */
  spoke: WireVersion | undefined;
}

interface Seen {
  highest: number;
  /**
   * Bit i of the 64-bit window: stamp highest - 1 - i was seen; `lo` holds bits 0-31, `hi` 32-63.
   * Two 32-bit numbers, not a bigint: every bigint operation allocates, and this runs per datagram.
   */
  lo: number;
  hi: number;
}

const IDLE: Message = { type: 'ping', seq: 0, incarnation: 0, from: '', target: '', updates: [] };

export class LivenessWire {
  private readonly key: LivenessKey;
  private readonly versions: readonly WireVersion[];
  private readonly newest: WireVersion;
  private readonly wallNow: () => number;
  private readonly peers = new Map<string, Peer>();
  private readonly seen = new Map<string, Seen>();
  private lastStamp = 0;
  /** Version 3: the members' ids (this node's and its peers'). */
  private readonly ids: NodeIds;
  private readonly self: string;
  /** The send path encodes here and copies the datagram out once (no sizing pass, no zeroed buffer). */
  private readonly scratch = Buffer.alloc(MAX_LENGTH);
  private readonly out: Datagram = { version: 1, stamp: 0, message: IDLE };
  /** Version 3 updates about ids that name no member, left out (non-members' updates are ignored anyway). */
  skippedUpdates = 0;

  constructor(opts: LivenessWireOptions) {
    if (opts.secret.length < 16) throw new RangeError(`liveness secret: at least 16 bytes, got ${opts.secret.length}`);
    this.key = new LivenessKey(opts.secret);
    this.versions = opts.versions ?? VERSIONS;
    if (this.versions.length === 0 || !this.versions.every((v) => VERSIONS.includes(v))) throw new RangeError(`liveness versions: ${this.versions.join(',')}`);
    this.newest = Math.max(...this.versions) as WireVersion;
    this.wallNow = opts.wallNow ?? Date.now;
    this.ids = new NodeIds(opts.secret);
    this.ids.add(opts.self);
    this.self = opts.self;
  }

  /** Members named by their names in version 3 because their ids collide (0 but in about 1 cluster of 8,600 at 1,000 nodes). */
  get idCollisions(): number {
    return this.ids.collisions;
  }

  /** The newest version this speaker reads (what its Lease advertises). */
  get advertises(): WireVersion {
    return this.newest;
  }

  /** A peer's Lease, as last seen: the newest version it advertises (1 when it advertises none). */
  setPeer(name: string, advertised: WireVersion): void {
    const p = this.peers.get(name);
    if (p === undefined) this.peers.set(name, { advertised, spoke: undefined });
    else if (p.advertised !== advertised) {
      // Another program on that Lease (an upgrade or a rollback): what it spoke before says nothing.
      p.advertised = advertised;
      p.spoke = undefined;
    }
    if (!this.seen.has(name)) this.track(name);
    this.ids.add(name);
  }

  /** The peer left (its Lease is gone). Its replay state stays (bounded): a recorded datagram of it stays refused. */
  removePeer(name: string): void {
    this.peers.delete(name);
    if (name !== this.self) this.ids.remove(name);
  }

  /** The version sent to `name` (see the header). */
  versionFor(name: string): WireVersion {
    if (this.newest === 1) return 1;
    const p = this.peers.get(name);
    if (p === undefined) return 1;
    const v = p.advertised >= 2 ? p.advertised : (p.spoke ?? 1);
    return v < this.newest ? v : this.newest;
  }

  /** `m` sealed for `to`: a Buffer of its own (a socket may still hold it after the next seal). */
  seal(to: string, m: Message): Buffer {
    const d = this.out;
    d.version = this.versionFor(to);
    d.stamp = d.version === 1 ? 0 : this.nextStamp();
    d.message = m;
    const n = encode(d, this.scratch, 0, this.ids);
    this.key.sign(this.scratch, 0, n, d.version);
    d.message = IDLE; // keep no reference to the message sent
    return Buffer.from(this.scratch.subarray(0, n));
  }

  /** A received datagram: the message, or why it is dropped (nothing is believed before this passes). */
  open(buf: Buffer): Opened {
    if (buf.length > MAX_LENGTH) return { ok: false, reason: 'tooLong' };
    let d: Datagram;
    try {
      d = open(buf, this.key, this.ids);
    } catch (err) {
      if (err instanceof LivenessError) return { ok: false, reason: err.code };
      throw err;
    }
    if (!this.versions.includes(d.version)) return { ok: false, reason: 'BadVersion' };
    const from = d.message.from;
    const peer = this.peers.get(from);
    if (d.version === 1) {
      // (A speaker of version 1 only knows nothing of advertisements, as the speakers before version 2.)
      if (peer && this.newest >= 2 && peer.advertised >= 2 && peer.spoke !== undefined && peer.spoke >= 2) return { ok: false, reason: 'Downgrade' };
    } else if (!this.fresh(from, d.stamp)) {
      return { ok: false, reason: 'Replay' };
    }
    if (peer) peer.spoke = d.version;
    if (d.skipped !== undefined) this.skippedUpdates += d.skipped;
    return { ok: true, datagram: d };
  }

  private nextStamp(): number {
    const s = Math.max(this.lastStamp + 1, Math.floor(this.wallNow() * STAMPS_PER_MS));
    // u48 of 1/16 ms lasts until the year 2527; past it (a wrong clock), stay at the top.
    this.lastStamp = Math.min(s, MAX_STAMP);
    return this.lastStamp;
  }

  private track(name: string): Seen {
    if (this.seen.size >= MAX_TRACKED) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    const s: Seen = { highest: -1, lo: 0, hi: 0 };
    this.seen.set(name, s);
    return s;
  }

  /** Records `stamp` from `from`; false if it was seen or is older than the window (a replay). */
  private fresh(from: string, stamp: number): boolean {
    // A sender that is no peer of ours: the state machine ignores it; keep no state for it.
    const s = this.seen.get(from) ?? (this.peers.has(from) ? this.track(from) : undefined);
    if (s === undefined) return true;
    if (s.highest < 0) {
      s.highest = stamp;
      return true;
    }
    if (stamp > s.highest) {
      const shift = stamp - s.highest;
      // The window slides by `shift`, and the old highest becomes bit shift - 1.
      if (shift > REPLAY_WINDOW) {
        // The old highest is out of the window too.
        s.lo = 0;
        s.hi = 0;
        s.highest = stamp;
        return true;
      }
      if (shift >= 32) {
        s.hi = shift === 64 ? 0 : (s.lo << (shift - 32)) >>> 0;
        s.lo = 0;
      } else {
        s.hi = ((s.hi << shift) | (s.lo >>> (32 - shift))) >>> 0;
        s.lo = (s.lo << shift) >>> 0;
      }
      setBit(s, shift - 1);
      s.highest = stamp;
      return true;
    }
    const back = s.highest - stamp;
    if (back === 0 || back > REPLAY_WINDOW) return false;
    const i = back - 1;
    if ((i < 32 ? s.lo >>> i : s.hi >>> (i - 32)) & 1) return false;
    setBit(s, i);
    return true;
  }
}

/** Marks bit `i` (0-63) of the window. */
function setBit(s: Seen, i: number): void {
  if (i < 32) s.lo = (s.lo | (1 << i)) >>> 0;
  else s.hi = (s.hi | (1 << (i - 32))) >>> 0;
}
