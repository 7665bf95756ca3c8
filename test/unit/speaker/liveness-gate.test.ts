import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';
import { LivenessGate } from '../../../speaker/liveness-gate.js';

const LIVE = new Set(['a', 'b', 'c']);

describe('liveness gate: Lease authority + liveness verdicts', () => {
  it('a verdict removes the node from ownership until its Lease shows a new life', () => {
    const g = new LivenessGate(new ManualClock());
    g.declaredDead('b', 100);
    expect([...g.owners(LIVE)].sort()).toEqual(['a', 'c']);
    // One renewal in flight when it died proves nothing.
    expect(g.leaseChanged('b', 100)).toBe(false);
    expect(g.owners(LIVE).has('b')).toBe(false);
    expect(g.leaseChanged('b', 5000)).toBe(true); // restarted: new acquireTime
    expect(g.owners(LIVE)).toBe(LIVE);
  });

  it('two Lease changes after the verdict prove the node alive (reachable by the API, not by UDP)', () => {
    const g = new LivenessGate(new ManualClock());
    g.declaredDead('c', 1);
    expect(g.leaseChanged('c', 1)).toBe(false);
    expect(g.leaseChanged('c', 1)).toBe(true);
    expect(g.owners(LIVE).has('c')).toBe(true);
  });

  it('a joining node (not heard by the liveness protocol yet) counts for no ownership until heard, or two Lease changes after', () => {
    const g = new LivenessGate(new ManualClock());
    g.setJoining('c', true);
    expect([...g.owners(LIVE)].sort()).toEqual(['a', 'b']);
    g.setJoining('c', false); // heard
    expect(g.owners(LIVE)).toBe(LIVE);
    // Reachable by the API only (it renews fast without quorum): two changes end the exclusion.
    g.setJoining('c', true);
    expect(g.leaseChanged('c', 1)).toBe(false);
    expect(g.owners(LIVE).has('c')).toBe(false);
    expect(g.leaseChanged('c', 1)).toBe(true);
    expect(g.owners(LIVE)).toBe(LIVE);
    // With a verdict standing as well, the verdict's own rule still decides.
    g.setJoining('b', true);
    g.declaredDead('b', 1);
    g.leaseChanged('b', 1);
    expect(g.leaseChanged('b', 1)).toBe(true);
    expect(g.owners(LIVE)).toBe(LIVE);
  });

  it('an expired or deleted Lease forgets the verdict; changes of other nodes do nothing', () => {
    const g = new LivenessGate(new ManualClock());
    g.declaredDead('a', 1);
    expect(g.leaseChanged('b', 1)).toBe(false);
    g.forget('a');
    expect(g.excluded().size).toBe(0);
  });

  it('partition: fenced from the quorum loss until the quorum is back or a renewal sent after the loss succeeds', () => {
    const clock = new ManualClock(1000);
    const g = new LivenessGate(clock);
    expect(g.isFenced()).toBe(false);
    g.quorumChanged(false);
    expect(g.isFenced()).toBe(true);
    expect(g.quorumLost).toBe(true);
    expect(g.vouches(999)).toBe(false);
    g.renewed(999); // sent before the loss: it vouches for nothing
    expect(g.isFenced()).toBe(true);
    clock.advance(50);
    expect(g.vouches(1010)).toBe(true); // the speaker asks its peers first (swim recheck)
    g.renewed(1010);
    expect(g.isFenced()).toBe(false);
    expect(g.vouches(1020)).toBe(false); // vouched already
    g.quorumChanged(true);
    expect(g.quorumLost).toBe(false);
    g.quorumChanged(false);
    expect(g.isFenced()).toBe(true);
    g.quorumChanged(true);
    expect(g.isFenced()).toBe(false);
  });

  it('declared dead itself: fenced at once, until its own Lease shows the new life; a renewal does not vouch for that', () => {
    const clock = new ManualClock(1000);
    const g = new LivenessGate(clock, 'a');
    g.declaredDead('a', 100);
    expect(g.isFenced()).toBe(true);
    expect(g.isFencedByVerdict()).toBe(true);
    g.renewed(2000);
    expect(g.isFenced()).toBe(true);
    expect(g.leaseChanged('a', 100)).toBe(false); // the renewal sent before it learnt
    expect(g.leaseChanged('a', 5000)).toBe(true); // the new life
    expect(g.isFenced()).toBe(false);
  });

  it('a stall fences the answers (read when asked), not the decisions', () => {
    const g = new LivenessGate(new ManualClock(), 'a');
    let stalled = true;
    let asked = 0;
    g.setStallCheck(() => {
      asked++;
      return stalled;
    });
    expect(g.isFenced()).toBe(true);
    expect(g.isFencedByVerdict()).toBe(false);
    g.renewed(10); // the API server hears us: says nothing about the others' verdict
    expect(g.isFenced()).toBe(true);
    stalled = false;
    expect(g.isFenced()).toBe(false);
    expect(asked).toBe(3);
  });

  it('claims: a claim from a peer waits until it answered a request of ours (asked at once and every askEveryMs), or the hold passed', () => {
    const clock = new ManualClock(1000);
    const g = new LivenessGate(clock, 'j', { claimHoldMs: 600, askEveryMs: 200 });
    const asked: string[] = [];
    const ended: string[] = [];
    g.setAsk((n) => asked.push(n));
    g.onClaimWaitEnded((n, end, waited) => ended.push(`${n} ${end} ${waited}`));
    expect(g.mayClaimFrom('a')).toBe(false);
    expect(g.mayClaimFrom('a')).toBe(false); // asked once per wait, not per decision
    expect(asked).toEqual(['a']);
    expect(g.claimsWaiting).toBe(1);
    clock.advance(200);
    expect(asked).toEqual(['a', 'a']); // asked again while waiting
    clock.advance(50);
    g.answered('a');
    expect(ended).toEqual(['a answered 250']);
    expect(g.mayClaimFrom('a')).toBe(true);
    expect(g.claimsWaiting).toBe(0);
    // An answer before any claim counts too (the round-robin's acks): no wait, no ask.
    g.answered('b');
    expect(g.mayClaimFrom('b')).toBe(true);
    expect(asked).toEqual(['a', 'a']);
    // A peer that never answers: the claim goes ahead once the hold passed, and is not held again in this life.
    expect(g.mayClaimFrom('c')).toBe(false);
    clock.advance(599);
    expect(g.mayClaimFrom('c')).toBe(false);
    clock.advance(200);
    // At the first tick past the hold: within one askEveryMs of it.
    const waited = Number(/^c timedOut (\d+)$/.exec(ended.at(-1) ?? '')?.[1]);
    expect(waited).toBeGreaterThanOrEqual(600);
    expect(waited).toBeLessThan(800);
    expect(g.mayClaimFrom('c')).toBe(true);
    // A Lease gone forgets its answer.
    g.forget('b');
    expect(g.mayClaimFrom('b')).toBe(false);
  });

  it('claims: answers belong to a life; declared dead, answers prove nothing until our new life shows', () => {
    const clock = new ManualClock(1000);
    const g = new LivenessGate(clock, 'j');
    g.answered('a');
    expect(g.mayClaimFrom('a')).toBe(true);
    g.declaredDead('j', 1); // the peers hold us dead: they exclude us whatever they answered before
    expect(g.mayClaimFrom('a')).toBe(false);
    g.answered('a'); // the answer that told us (or one sent before our new Lease showed): nothing
    expect(g.leaseChanged('j', 2)).toBe(true); // our new life shows
    expect(g.mayClaimFrom('a')).toBe(false);
    g.answered('a');
    expect(g.mayClaimFrom('a')).toBe(true);
    // Fenced (a new life without a verdict): the same.
    g.newLife();
    expect(g.mayClaimFrom('a')).toBe(false);
    expect(g.claimsWaiting).toBe(1);
  });
});
