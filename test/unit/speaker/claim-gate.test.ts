// The claim gate's states on a manual clock: cut -> listing (lists requested after the reconnection)
// -> open once they are applied, a cut or reconnection meanwhile superseding them; bounded by maxMs
// when the lists keep failing; never gated without the holders view.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';
import { ClaimGate, type ClaimGateChange } from '../../../speaker/claim-gate.js';

function gate(maxMs = 30_000) {
  const clock = new ManualClock(1000);
  const g = new ClaimGate({ clock, maxMs });
  const changes: ClaimGateChange[] = [];
  g.onChange((c) => changes.push(c));
  return { clock, g, changes };
}

describe('ClaimGate', () => {
  it('open until a cut; gated through the cut and until the lists requested after the reconnection are applied', () => {
    const { clock, g, changes } = gate();
    expect(g.gated).toBe(false);
    expect(g.reconnected()).toBeUndefined(); // a renewal without a cut: nothing to list
    g.cut('fenced');
    expect(g.gated).toBe(true);
    clock.advance(4000);
    const request = g.reconnected() as number;
    expect(g.state).toMatchObject({ kind: 'listing', reason: 'fenced', since: 1000, reconnectedAt: 5000, request });
    expect(g.gated).toBe(true);
    clock.advance(120);
    g.listed(request);
    expect(g.gated).toBe(false);
    expect(changes).toEqual([
      { to: 'cut', reason: 'fenced' },
      { to: 'listing', reason: 'fenced', request },
      { to: 'open', reason: 'fenced', gatedMs: 120, cutMs: 4120, timedOut: false },
    ]);
  });

  it('lists requested before a later cut or reconnection do not open it (their snapshot may predate it)', () => {
    const { clock, g } = gate();
    g.cut('declaredDead');
    const early = g.reconnected() as number; // declared dead: listed at once, the API may be cut too
    g.cut('fenced');
    g.listed(early);
    expect(g.state).toMatchObject({ kind: 'cut', reason: 'fenced', since: 1000 });
    clock.advance(500);
    const first = g.reconnected() as number;
    const second = g.reconnected() as number; // a second reconnection supersedes the first lists
    g.listed(first);
    expect(g.gated).toBe(true);
    g.listed(second);
    expect(g.gated).toBe(false);
    g.listed(second); // late duplicate: nothing
    expect(g.state).toEqual({ kind: 'open' });
  });

  it('lists that keep failing: open after maxMs from the reconnection, said as a timeout; a cut before stops the timer', () => {
    const { clock, g, changes } = gate(30_000);
    g.cut('fenced');
    g.reconnected();
    clock.advance(10_000);
    g.cut('fenced'); // cut again: the timer stops, the cut keeps its start
    clock.advance(60_000);
    expect(g.gated).toBe(true);
    g.reconnected();
    clock.advance(29_999);
    expect(g.gated).toBe(true);
    clock.advance(1);
    expect(g.gated).toBe(false);
    expect(changes.at(-1)).toEqual({ to: 'open', reason: 'fenced', gatedMs: 30_000, cutMs: 100_000, timedOut: true });
  });

  it('without the holders view (kind not served or not readable) nothing is gated, whatever comes', () => {
    const { clock, g, changes } = gate();
    g.cut('fenced');
    g.reconnected();
    g.unavailable();
    expect(g.gated).toBe(false);
    g.cut('fenced');
    expect(g.reconnected()).toBeUndefined();
    clock.advance(60_000);
    expect(g.gated).toBe(false);
    expect(changes.map((c) => c.to)).toEqual(['cut', 'listing', 'unavailable']);
  });
});
