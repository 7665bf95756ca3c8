import { describe, expect, it } from 'vitest';
import { Membership, MembershipError, type JudgementChange, type MembershipChange } from '../../../speaker/membership.js';
import { ManualClock } from '../../../protocols/clock.js';

const SELF = 'me';

/**
 * A membership whose own Lease is seen renewed every renewMs (a healthy speaker): `advance` moves
 * the clock in steps no longer than renewMs, observing our own Lease with a new version at each
 * renew tick. `changes` and `peers()` leave our own entry out.
 */
function setup(leaseDurationMs = 3000, renewMs = 1000) {
  const clock = new ManualClock();
  const m = new Membership({ clock, leaseDurationMs, self: SELF, renewMs });
  const changes: MembershipChange[] = [];
  m.onChange((c) => {
    if (c.node !== SELF) changes.push(c);
  });
  let selfVersion = 0;
  let nextRenew = 0;
  const renewSelf = (): void => {
    m.observe(SELF, `self-${++selfVersion}`);
    nextRenew = clock.now() + renewMs;
  };
  renewSelf();
  const advance = (ms: number): void => {
    const end = clock.now() + ms;
    while (nextRenew <= end) {
      clock.advance(nextRenew - clock.now());
      renewSelf();
    }
    clock.advance(end - clock.now());
  };
  const peers = (): string[] => m.live().filter((n) => n !== SELF);
  return { clock, m, changes, advance, peers };
}

/** Timers a healthy membership keeps for itself: our own entry's expiry and the freeze timer. */
const OWN_TIMERS = 2;

describe('Membership', () => {
  it('counts a newly seen Lease as live for the lease duration, then expires it by timer', () => {
    const { m, changes, advance, peers } = setup();
    m.observe('a', 'r1');
    expect(peers()).toEqual(['a']);
    advance(2999);
    expect(m.isLive('a')).toBe(true);
    advance(1);
    expect(m.isLive('a')).toBe(false);
    expect(changes).toEqual([
      { node: 'a', live: true, cause: 'renewed' },
      { node: 'a', live: false, cause: 'expired' },
    ]);
  });

  it('extends liveness on each changed version, timed at local observation', () => {
    const { clock, m, changes, advance } = setup();
    m.observe('a', 'r1');
    for (let i = 2; i <= 10; i++) {
      advance(1000);
      m.observe('a', `r${i}`);
    }
    advance(2999);
    expect(m.isLive('a')).toBe(true);
    expect(changes).toHaveLength(1);
    expect(clock.pending()).toBe(1 + OWN_TIMERS);
    advance(1);
    expect(m.isLive('a')).toBe(false);
  });

  it('does not refresh on the same version (resyncs), nor revive an expired Lease with it', () => {
    const { m, changes, advance } = setup();
    m.observe('a', '2026-11-22T09:00:00.000000Z');
    advance(2000);
    m.observe('a', '2026-11-22T09:00:00.000000Z');
    advance(1000);
    expect(m.isLive('a')).toBe(false);
    m.observe('a', '2026-11-22T09:00:00.000000Z');
    expect(m.isLive('a')).toBe(false);
    m.observe('a', '2026-11-22T09:00:04.000000Z');
    expect(m.isLive('a')).toBe(true);
    expect(changes.map((c) => `${c.live}:${c.cause}`)).toEqual(['true:renewed', 'false:expired', 'true:renewed']);
  });

  it('never compares renew times: a renewTime far in the past or future is just a change', () => {
    const { m, advance } = setup();
    m.observe('skewed', '1999-01-01T00:00:00Z');
    advance(2500);
    m.observe('skewed', '2099-01-01T00:00:00Z');
    advance(2500);
    expect(m.isLive('skewed')).toBe(true);
    expect(m.sinceLastChange('skewed')).toBe(2500);
  });

  it('removes a deleted Lease at once and cancels its timer', () => {
    const { clock, m, changes, advance, peers } = setup();
    m.observe('a', '1');
    m.observe('b', '1');
    m.remove('a');
    expect(peers()).toEqual(['b']);
    expect(changes.at(-1)).toEqual({ node: 'a', live: false, cause: 'deleted' });
    expect(clock.pending()).toBe(1 + OWN_TIMERS);
    m.remove('a'); // idempotent
    advance(3000);
    expect(peers()).toEqual([]);
    expect(changes.filter((c) => c.node === 'a')).toHaveLength(2);
  });

  it('reports no change when deleting an already expired Lease', () => {
    const { m, changes, advance } = setup();
    m.observe('a', '1');
    advance(3000);
    m.remove('a');
    expect(changes.map((c) => c.cause)).toEqual(['renewed', 'expired']);
  });

  it('tracks nodes independently and lists them sorted', () => {
    const { m, advance } = setup(1000, 300);
    m.observe('c', '1');
    advance(500);
    m.observe('a', '1');
    m.observe('b', '1');
    expect(m.live()).toEqual(['a', 'b', 'c', SELF]);
    advance(500);
    expect(m.live()).toEqual(['a', 'b', SELF]);
  });

  it('liveSet follows the live list and is reused until the live set changes', () => {
    const { m, advance } = setup(1000, 300);
    m.observe('a', '1');
    const first = m.liveSet();
    expect([...first].sort()).toEqual(['a', SELF]);
    m.observe('a', '2');
    expect(m.liveSet()).toBe(first);
    m.observe('b', '1');
    expect([...m.liveSet()].sort()).toEqual(['a', 'b', SELF]);
    expect([...first].sort()).toEqual(['a', SELF]);
    advance(1000);
    expect([...m.liveSet()]).toEqual([SELF]);
  });

  it('unsubscribes listeners and clears everything on close', () => {
    const { clock, m, changes } = setup();
    const seen: MembershipChange[] = [];
    const off = m.onChange((c) => seen.push(c));
    m.observe('a', '1');
    off();
    m.observe('b', '1');
    expect(seen).toHaveLength(1);
    expect(changes).toHaveLength(2);
    m.close();
    expect(clock.pending()).toBe(0);
    expect(m.live()).toEqual([]);
  });

  it('seen renewing: only a Lease seen changing counts (not one listed once and stale), kept after it expires or is deleted', () => {
    const { m, advance } = setup();
    m.observe('stale', 's1');
    m.observe('a', 'a1');
    m.observe('b', 'b1');
    expect(m.seenRenewing().filter((n) => n !== SELF)).toEqual([]);
    advance(1000);
    m.observe('a', 'a2');
    m.observe('b', 'b2');
    advance(5000); // every peer expired now
    m.remove('b'); // b's Lease deleted (it left gracefully)
    expect(m.isLive('a')).toBe(false);
    expect(m.seenRenewing().filter((n) => n !== SELF).sort()).toEqual(['a', 'b']);
    // b's Lease back: no longer departed, counted once.
    m.observe('b', 'b3');
    expect(m.seenRenewing().filter((n) => n === 'b')).toEqual(['b']);
  });

  it('departed nodes are bounded: the oldest beyond max(16, 2 x members) are forgotten', () => {
    const { m } = setup();
    for (let i = 0; i < 40; i++) {
      m.observe(`n${i}`, 'v1');
      m.observe(`n${i}`, 'v2');
      m.remove(`n${i}`);
    }
    const seen = m.seenRenewing().filter((n) => n !== SELF);
    expect(seen).toHaveLength(16);
    expect(seen[0]).toBe('n24');
    expect(seen.at(-1)).toBe('n39');
  });

  it('rejects a non-positive lease duration or renew interval and an empty self with typed errors', () => {
    const clock = new ManualClock();
    expect(() => new Membership({ clock, leaseDurationMs: 0, self: SELF, renewMs: 1000 })).toThrow(MembershipError);
    expect(() => new Membership({ clock, leaseDurationMs: Number.NaN, self: SELF, renewMs: 1000 })).toThrow(/leaseDurationMs/);
    expect(() => new Membership({ clock, leaseDurationMs: 3000, self: SELF, renewMs: 0 })).toThrow(/renewMs/);
    expect(() => new Membership({ clock, leaseDurationMs: 3000, self: '', renewMs: 1000 })).toThrow(/self/);
  });
});

describe('Membership while our own renewals are not seen (frozen)', () => {
  /** Peers a and b renew every second like us, a bit before us; everything stops at `outage`. */
  function renewingTogether(seconds: number) {
    const t = setup();
    const judgements: JudgementChange[] = [];
    t.m.onJudgementChange((c) => judgements.push(c));
    for (let i = 1; i <= seconds; i++) {
      // a renews 800 ms, b 500 ms before our own renewal (seen at each whole second).
      t.advance(200);
      t.m.observe('a', `a${i}`);
      t.advance(300);
      t.m.observe('b', `b${i}`);
      t.advance(500);
    }
    return { ...t, judgements };
  }

  it('starts frozen until our own Lease is seen: nothing expires before', () => {
    const clock = new ManualClock();
    const m = new Membership({ clock, leaseDurationMs: 3000, self: SELF, renewMs: 1000 });
    expect(m.judgementState()).toEqual({ kind: 'frozen', reason: 'selfNotSeen', since: 0 });
    m.observe('a', '1');
    clock.advance(10_000);
    expect(m.isLive('a')).toBe(true);
    expect(m.deferred()).toEqual(['a']);
    m.observe(SELF, '1');
    expect(m.judgementState()).toEqual({ kind: 'judging', selfSeenAt: 10_000 });
    expect(m.deferred()).toEqual([]);
    // Our own Lease is not seen again: frozen at 11.5 s, so a falls due at 13 s into a deferral again.
    clock.advance(3000);
    expect(m.judgementState()).toMatchObject({ kind: 'frozen', reason: 'selfOverdue', since: 11_500 });
    expect(m.isLive('a')).toBe(true);
    // Seen renewing every second from 13 s on: a (silent since 0) is dropped a lease duration later.
    for (let i = 2; i <= 4; i++) {
      m.observe(SELF, String(i));
      clock.advance(1000);
    }
    expect(m.isLive('a')).toBe(false);
    expect(clock.now()).toBe(16_000);
  });

  it('outage: nobody renews any more; peers that fall due stay live (deferred), nothing expires', () => {
    const { clock, m, changes, judgements, peers } = renewingTogether(5);
    const outage = clock.now(); // our own renewal was seen just now, a's 800 ms and b's 500 ms ago
    // The API server is gone: no more observations. Without freezing, a would expire at +2.2 s and b at +2.5 s.
    clock.advance(1499);
    expect(m.judgementState().kind).toBe('judging');
    clock.advance(1);
    expect(m.judgementState()).toEqual({ kind: 'frozen', reason: 'selfOverdue', since: outage + 1500 });
    clock.advance(60_000);
    expect(peers()).toEqual(['a', 'b']);
    expect(m.isLive(SELF)).toBe(true);
    expect(m.deferred()).toEqual(['a', 'b', SELF]);
    expect(changes.filter((c) => !c.live)).toEqual([]);
    expect(judgements.map((j) => j.state.kind)).toEqual(['frozen']);
  });

  it('a failed renewal of ours freezes at once, even with a lease duration too short for the timing rule', () => {
    const clock = new ManualClock();
    const m = new Membership({ clock, leaseDurationMs: 2000, self: SELF, renewMs: 1000 });
    m.observe('a', 'a1'); // a renewed at 0
    clock.advance(900);
    m.observe(SELF, 's1'); // we renewed at 900; our next renewal, at 1900, fails at once (connection refused)
    clock.advance(1000);
    m.selfRenewFailed();
    expect(m.judgementState()).toEqual({ kind: 'frozen', reason: 'renewFailed', since: 1900 });
    clock.advance(100); // a falls due at 2000: only 1100 ms after our last renewal was seen, so only the failure stops this
    expect(m.isLive('a')).toBe(true);
    expect(m.deferred()).toEqual(['a']);
    m.selfRenewFailed(); // repeated failures change nothing
    expect(m.judgementState().kind).toBe('frozen');
  });

  it('a peer that dies while we are healthy is dropped exactly a lease duration after its last renewal seen', () => {
    const { m, changes, advance } = renewingTogether(3); // now 3000; a last seen at 2200, b at 2500
    // a is killed; b keeps renewing, and so do we (advance renews our own Lease every second).
    advance(500);
    m.observe('b', 'b4');
    advance(1699);
    expect(m.isLive('a')).toBe(true);
    advance(1); // 5200 = 2200 + 3000
    expect(m.isLive('a')).toBe(false);
    advance(300);
    m.observe('b', 'b5');
    advance(5000);
    expect(m.judgementState().kind).toBe('judging');
    expect(changes.filter((c) => !c.live)).toEqual([
      { node: 'a', live: false, cause: 'expired' },
      { node: 'b', live: false, cause: 'expired' },
    ]);
    expect(m.live()).toEqual([SELF]);
  });

  it('recovery: our own renewal seen again resumes judging; deferred peers get a fresh lease duration to renew', () => {
    const { clock, m, changes, judgements, peers } = renewingTogether(5);
    clock.advance(8000); // outage: frozen at 1.5 s, a and b deferred at 2.2 s and 2.5 s
    expect(m.deferred()).toEqual(['a', 'b', SELF]);
    // Back: our Lease is seen changed (our renewal went through and the watch caught up).
    const back = clock.now();
    m.observe(SELF, 'after');
    expect(m.judgementState()).toEqual({ kind: 'judging', selfSeenAt: back });
    expect(judgements.at(-1)).toEqual({ state: { kind: 'judging', selfSeenAt: back }, deferred: ['a', 'b'] });
    expect(m.deferred()).toEqual([]);
    // a renews 900 ms after us (its first attempt after the outage); b never comes back.
    clock.advance(900);
    m.observe('a', 'after');
    m.observe(SELF, 'after2');
    for (let i = 0; i < 4; i++) {
      clock.advance(500);
      if (clock.now() - back < 2999) expect(peers()).toEqual(['a', 'b']);
      clock.advance(500);
      m.observe('a', `after-a${i}`);
      m.observe(SELF, `after-s${i}`);
    }
    // b: dropped a full lease duration after the resume, not at once.
    expect(changes.filter((c) => !c.live)).toEqual([{ node: 'b', live: false, cause: 'expired' }]);
    expect(peers()).toEqual(['a']);
  });

  it('a peer seen renewing while we are frozen is live as usual; a deletion while frozen takes effect at once', () => {
    const { clock, m, changes, peers } = renewingTogether(2);
    m.selfRenewFailed();
    m.observe('a', 'fresh');
    clock.advance(2999); // b (seen at 1.5 s) fell due at 4.5 s
    expect(m.isLive('a')).toBe(true);
    expect(m.deferred()).toEqual(['b']);
    m.remove('b');
    expect(peers()).toEqual(['a']);
    expect(changes.at(-1)).toEqual({ node: 'b', live: false, cause: 'deleted' });
  });

  it('judges by time when the freeze and a peer fall due at the same instant', () => {
    const clock = new ManualClock();
    const m = new Membership({ clock, leaseDurationMs: 3000, self: SELF, renewMs: 2000 });
    m.observe('a', '1'); // due at 3000
    m.observe(SELF, '1'); // freeze at 3000 too; a's timer was set first
    clock.advance(3000);
    expect(m.judgementState().kind).toBe('frozen');
    expect(m.isLive('a')).toBe(true);
  });

  it('a short lease duration caps the freeze delay, so our own entry never expires while the speaker runs', () => {
    const clock = new ManualClock();
    const m = new Membership({ clock, leaseDurationMs: 1200, self: SELF, renewMs: 1000 });
    m.observe(SELF, '1');
    clock.advance(1200);
    expect(m.judgementState()).toMatchObject({ kind: 'frozen', reason: 'selfOverdue' });
    expect(m.isLive(SELF)).toBe(true);
  });
});

// The Lease split (liveness on; README: Scale): a Lease advertising a heartbeat Lease changes only on
// a change of its speaker, so it expires only under the liveness protocol's verdict.
describe('Membership with split Leases', () => {
  function splitSetup() {
    const clock = new ManualClock();
    const m = new Membership({ clock, leaseDurationMs: 30_000, self: SELF, renewMs: 10_000 });
    const changes: MembershipChange[] = [];
    const judgements: JudgementChange[] = [];
    m.onChange((c) => {
      if (c.node !== SELF) changes.push(c);
    });
    m.onJudgementChange((c) => judgements.push(c));
    m.observe(SELF, 'self-1', 1, true); // written once: never again while nothing changes
    return { clock, m, changes, judgements };
  }

  it('a split peer stays live however long its Lease does not change, and so do we (no freeze timer without a periodic Lease)', () => {
    const { clock, m, changes, judgements } = splitSetup();
    m.observe('a', 'r1', 1, true);
    clock.advance(3_600_000);
    expect(m.isLive('a')).toBe(true);
    expect(m.judgementState().kind).toBe('judging');
    expect(judgements.map((j) => j.state.kind)).toEqual(['judging']);
    expect(changes).toEqual([{ node: 'a', live: true, cause: 'renewed' }]);
    expect(m.periodicPeers()).toBe(0);
  });

  it('under a verdict it expires leaseDuration after the verdict (or its last change since); a verdict that ends stops the expiry', () => {
    const { clock, m, changes } = splitSetup();
    m.observe('a', 'r1', 1, true);
    m.observe('b', 'r1', 1, true);
    clock.advance(100_000);
    m.setVerdict('a', true);
    m.setVerdict('b', true);
    clock.advance(20_000);
    m.observe('b', 'r2', 1, true); // a change under the verdict (a fast renewal): a fresh lease duration
    m.setVerdict('b', true); // told again: nothing
    clock.advance(10_000); // 30 s after the verdict on a
    expect(m.isLive('a')).toBe(false);
    expect(m.isLive('b')).toBe(true);
    m.setVerdict('b', false); // its second change ended the verdict: no expiry any more
    clock.advance(600_000);
    expect(m.isLive('b')).toBe(true);
    expect(changes.filter((c) => !c.live)).toEqual([{ node: 'a', live: false, cause: 'expired' }]);
    // Its new life: live again, and no verdict carried over into it.
    m.observe('a', 'r2', 2, true);
    clock.advance(600_000);
    expect(m.isLive('a')).toBe(true);
  });

  it('an older (periodic) peer expires by silence as before; while it is live our own Lease is sampled again (freeze timer), and periodicPeers counts it', () => {
    const { clock, m, judgements } = splitSetup();
    m.observe('old', 'r1', 1, false);
    expect(m.periodicPeers()).toBe(1);
    m.setVerdict('old', true); // a verdict changes nothing for a periodic Lease: it expires by silence
    clock.advance(10_000);
    m.observe(SELF, 'self-2', 1, true); // we renew periodically while it is live
    clock.advance(14_999);
    expect(m.judgementState().kind).toBe('judging');
    clock.advance(1); // our own Lease not seen for 1.5 x renew: frozen, the old peer's expiry deferred
    expect(m.judgementState()).toMatchObject({ kind: 'frozen', reason: 'selfOverdue' });
    clock.advance(10_000);
    expect(m.isLive('old')).toBe(true);
    expect(m.deferred()).toEqual(['old']);
    m.observe(SELF, 'self-3', 1, true);
    expect(judgements.map((j) => j.state.kind)).toEqual(['judging', 'frozen', 'judging']);
    for (let i = 4; i <= 6; i++) {
      clock.advance(10_000); // a fresh lease duration from the resume (our own renewals seen), then expired
      if (i < 6) m.observe(SELF, `self-${i}`, 1, true);
    }
    expect(m.isLive('old')).toBe(false);
    expect(m.periodicPeers()).toBe(0);
    clock.advance(3_600_000); // no freeze timer any more
    expect(m.judgementState().kind).toBe('judging');
  });
});
