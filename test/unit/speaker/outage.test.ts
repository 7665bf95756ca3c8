// Three speakers' membership, fencing and layer2 decisions on one manual clock, against a modelled
// API server (Lease writes, and watches that deliver them, go down and come back): the restart
// lab's "API server down" scenario without sleeping. The layer2 owner must never be anybody but
// the rightful one while the API server is away, a speaker that really dies is replaced on time,
// and after an outage the same owner answers again without a detour through another node.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';
import { Fencing } from '../../../speaker/fencing.js';
import { layer2Decision, rankSpeakers } from '../../../speaker/layer2-owner.js';
import { Membership } from '../../../speaker/membership.js';
import type { EndpointsView, ServiceView } from '../../../speaker/service-view.js';

const RENEW_MS = 1000;
const LEASE_MS = 3000;
const NODES = ['node1', 'node2', 'node3'] as const;
type Node = (typeof NODES)[number];
/** Renew phase of each speaker within the second: node3 renews last, just before the outage (as in the lab). */
const PHASE: Record<Node, number> = { node1: 200, node2: 500, node3: 950 };
const STEP_MS = 10;

/** A VIP node1 owns while all three are live, with node3 next in line (the lab's wrong claimant). */
const VIP = (() => {
  for (let i = 1; i < 255; i++) {
    const vip = `192.0.2.${i}`;
    if (rankSpeakers(NODES, vip).join() === 'node1,node3,node2') return vip;
  }
  throw new Error('no VIP with the wanted ranking');
})();
const SERVICE: ServiceView = { key: 'ns/web', ips: [VIP], pool: 'lan', externalTrafficPolicy: 'Cluster' };
const ENDPOINTS: EndpointsView = { readyByNode: new Map([['node2', 1]]) };

interface Speaker {
  node: Node;
  membership: Membership;
  fencing: Fencing;
  alive: boolean;
  /** This speaker's Lease watch delivers writes (false while the API server is down, until it reconnects). */
  watching: boolean;
  announcing: boolean;
}

/** Who announced the VIP when: [ms, node, 'on' | 'off']. */
type Transition = [number, Node, 'on' | 'off'];

class World {
  readonly clock = new ManualClock();
  readonly speakers: Speaker[];
  readonly transitions: Transition[] = [];
  apiUp = true;
  /** How requests fail while the API server is down: refused at once, or hanging until the request timeout (the lease duration). */
  failure: 'refused' | 'hang' = 'refused';
  private readonly versions = new Map<Node, number>();

  constructor() {
    this.speakers = NODES.map((node) => ({
      node,
      membership: new Membership({ clock: this.clock, leaseDurationMs: LEASE_MS, self: node, renewMs: RENEW_MS }),
      fencing: new Fencing({ clock: this.clock, leaseDurationMs: LEASE_MS }),
      alive: true,
      watching: true,
      announcing: false,
    }));
    for (const s of this.speakers) this.clock.setTimeout(() => this.renew(s), PHASE[s.node]);
  }

  speaker(node: Node): Speaker {
    return this.speakers.find((s) => s.node === node) as Speaker;
  }

  /** One renewal: a write every speaker's connected watch sees at once, or a fast failure (connection refused). */
  private renew(s: Speaker): void {
    if (!s.alive) return;
    if (this.apiUp) {
      const version = (this.versions.get(s.node) ?? 0) + 1;
      this.versions.set(s.node, version);
      s.fencing.renewSucceeded(this.clock.now());
      for (const w of this.speakers) if (w.alive && w.watching) w.membership.observe(s.node, String(version));
    } else if (this.failure === 'hang') {
      // The next renewal waits for this one (speaker-lease.ts), which times out after the lease duration.
      this.clock.setTimeout(() => {
        s.fencing.renewFailed(new Error('request timed out'));
        s.membership.selfRenewFailed();
        this.renew(s);
      }, LEASE_MS);
      return;
    } else {
      s.fencing.renewFailed(new Error('connect ECONNREFUSED'));
      s.membership.selfRenewFailed();
    }
    this.clock.setTimeout(() => this.renew(s), RENEW_MS);
  }

  /** The API server stops: writes fail and every watch breaks. */
  stopApi(failure: 'refused' | 'hang' = 'refused'): void {
    this.apiUp = false;
    this.failure = failure;
    for (const s of this.speakers) s.watching = false;
  }

  /** The API server is back; each speaker's watch reconnects (and re-lists every Lease) after its own backoff. */
  startApi(reconnectAfterMs: Record<Node, number>): void {
    this.apiUp = true;
    for (const s of this.speakers) {
      this.clock.setTimeout(() => {
        s.watching = true;
        for (const [node, version] of this.versions) s.membership.observe(node, String(version));
      }, reconnectAfterMs[s.node]);
    }
  }

  /** SIGKILL: no more renewals, nothing announced, its Lease stays. */
  kill(node: Node): void {
    const s = this.speaker(node);
    s.alive = false;
    this.setAnnouncing(s, false);
  }

  /** Run for `ms`, re-deciding every speaker every STEP_MS (the daemon re-decides on each change). */
  run(ms: number): void {
    const end = this.clock.now() + ms;
    while (this.clock.now() < end) {
      this.clock.advance(Math.min(STEP_MS, end - this.clock.now()));
      for (const s of this.speakers) {
        if (!s.alive) continue;
        const decision = layer2Decision(SERVICE, ENDPOINTS, {
          self: s.node,
          fenced: s.fencing.isFenced(),
          liveSpeakers: s.membership.liveSet(),
          nodeSelected: () => true,
        });
        this.setAnnouncing(s, decision === null);
      }
    }
  }

  private setAnnouncing(s: Speaker, on: boolean): void {
    if (s.announcing === on) return;
    s.announcing = on;
    this.transitions.push([this.clock.now(), s.node, on ? 'on' : 'off']);
  }

  /** Nodes that started announcing at or after `since`. */
  claimsSince(since: number): Transition[] {
    return this.transitions.filter(([t, , what]) => t >= since && what === 'on');
  }

  announcers(): Node[] {
    return this.speakers.filter((s) => s.announcing).map((s) => s.node);
  }
}

describe('speakers through an API server outage (membership + fencing + layer2 decision)', () => {
  function converged(): World {
    const w = new World();
    w.run(5000);
    expect(w.announcers()).toEqual(['node1']);
    for (const s of w.speakers) expect(s.membership.live()).toEqual([...NODES]);
    return w;
  }

  it('outage: nobody but the owner ever claims the VIP; the owner goes silent when it fences itself', () => {
    const w = converged();
    const stop = w.clock.now(); // 5000: node3 renewed 50 ms ago, node1 800 ms ago
    w.stopApi();
    w.run(8000);
    // Before the fix, node3 dropped node1 and node2 at +2.2/+2.5 s (their last renewals seen + 3 s)
    // and claimed the VIP until its own fencing at +2.95 s.
    expect(w.claimsSince(stop)).toEqual([]);
    // node1 last renewed at 4200: fenced 3 s later, at +2.2 s.
    expect(w.transitions.filter(([t]) => t >= stop)).toEqual([[stop + 2200, 'node1', 'off']]);
    for (const s of w.speakers) {
      expect(s.fencing.isFenced()).toBe(true);
      expect(s.membership.judgementState()).toMatchObject({ kind: 'frozen', reason: 'renewFailed' });
      expect(s.membership.live()).toEqual([...NODES]);
    }
  });

  it('outage where requests hang instead of failing (a partition): our own Lease not seen for 1.5 renew intervals is enough', () => {
    const w = converged();
    const stop = w.clock.now();
    w.stopApi('hang');
    w.run(8000);
    expect(w.claimsSince(stop)).toEqual([]);
    for (const s of w.speakers) {
      expect(s.fencing.isFenced()).toBe(true);
      expect(s.membership.live()).toEqual([...NODES]);
    }
    // node3 froze because its own Lease was overdue (last seen at 4950), before its first request timed out.
    expect(w.speaker('node3').membership.judgementState()).toEqual({ kind: 'frozen', reason: 'selfOverdue', since: 4950 + 1500 });
  });

  it('recovery: the same owner answers again as soon as it renews, nobody else claims, even with watches reconnecting late', () => {
    const w = converged();
    const stop = w.clock.now();
    w.stopApi();
    w.run(8000);
    const back = w.clock.now();
    // Watch backoffs after an 8 s outage are seconds long: node3's watch is back only 6 s after the server.
    w.startApi({ node1: 400, node2: 1500, node3: 6000 });
    w.run(12_000);
    expect(w.claimsSince(stop)).toEqual([[back + 200, 'node1', 'on']]); // node1's first renewal after the restart
    expect(w.announcers()).toEqual(['node1']);
    for (const s of w.speakers) {
      expect(s.fencing.isFenced()).toBe(false);
      expect(s.membership.judgementState().kind).toBe('judging');
      expect(s.membership.live()).toEqual([...NODES]);
    }
  });

  it('a speaker that dies during the outage is dropped a lease duration after the others see their own renewals again', () => {
    const w = converged();
    w.stopApi();
    w.run(4000);
    w.kill('node1');
    w.run(4000);
    const back = w.clock.now();
    w.startApi({ node1: 0, node2: 100, node3: 100 });
    w.run(10_000);
    // node3 (next in line): its watch's re-list at back + 100 shows only the Lease versions from
    // before the outage, its own included, which is no evidence; its own first renewal after the
    // restart (back + 950) resumes judging, node1 gets a fresh lease duration from there, then node3 takes over.
    const claims = w.claimsSince(back);
    expect(claims).toEqual([[back + 950 + LEASE_MS, 'node3', 'on']]);
    expect(w.announcers()).toEqual(['node3']);
  });

  it('a speaker that dies while the API server is fine is replaced exactly a lease duration after its last renewal seen', () => {
    const w = converged();
    const killedAt = w.clock.now() + 300; // 5300: node1 renewed at 5200
    w.run(300);
    w.kill('node1');
    w.run(5000);
    expect(w.claimsSince(killedAt)).toEqual([[5200 + LEASE_MS, 'node3', 'on']]);
    for (const s of w.speakers.filter((x) => x.alive)) {
      expect(s.membership.judgementState().kind).toBe('judging');
      expect(s.membership.live()).toEqual(['node2', 'node3']);
    }
  });
});
