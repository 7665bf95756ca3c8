import { describe, expect, it } from 'vitest';
import { AdjRibOut, backoffDelayMs, nextState, transitions, type FsmEvent, type SessionState } from '../../../protocols/bgp/index.js';

const names = (d: ReturnType<AdjRibOut['takeDelta']>): unknown => ({
  announce: d.announce.map((g) => [g.family, g.prefixes.map(String)]),
  withdraw: { ipv4: d.withdraw.ipv4.map(String), ipv6: d.withdraw.ipv6.map(String) },
});

describe('AdjRibOut', () => {
  it('sends deltas grouped by attributes and family', () => {
    const rib = new AdjRibOut();
    const a = { localPref: 200 };
    rib.set('203.0.113.1', a);
    rib.set('203.0.113.2/32', { localPref: 200 });
    rib.set('2001:db8::1', a);
    rib.set('203.0.113.3');
    expect(rib.size).toBe(4);
    expect(names(rib.takeDelta())).toEqual({
      announce: [
        ['ipv4', ['203.0.113.1/32', '203.0.113.2/32']],
        ['ipv6', ['2001:db8::1/128']],
        ['ipv4', ['203.0.113.3/32']],
      ],
      withdraw: { ipv4: [], ipv6: [] },
    });
    expect(names(rib.takeDelta())).toEqual({ announce: [], withdraw: { ipv4: [], ipv6: [] } });
  });

  it('re-announces on an attribute change, ignores a no-op set, withdraws only what was sent', () => {
    const rib = new AdjRibOut();
    rib.set('203.0.113.1');
    rib.takeDelta();
    rib.set('203.0.113.1', {});
    expect(rib.pending).toBe(0);
    rib.set('203.0.113.1', { med: 5 });
    rib.set('203.0.113.9');
    rib.delete('203.0.113.9');
    expect(names(rib.takeDelta())).toEqual({ announce: [['ipv4', ['203.0.113.1/32']]], withdraw: { ipv4: [], ipv6: [] } });
    expect(rib.delete('203.0.113.1')).toBe(true);
    expect(rib.delete('203.0.113.1')).toBe(false);
    expect(names(rib.takeDelta())).toEqual({ announce: [], withdraw: { ipv4: ['203.0.113.1/32'], ipv6: [] } });
    expect(rib.size).toBe(0);
  });

  it('keeps routes of families not taken pending, and resend() re-sends everything (or one family)', () => {
    const rib = new AdjRibOut();
    rib.set('203.0.113.1');
    rib.set('2001:db8::1');
    expect(names(rib.takeDelta(['ipv4']))).toMatchObject({ announce: [['ipv4', ['203.0.113.1/32']]] });
    expect(rib.pending).toBe(1);
    expect(names(rib.takeDelta(['ipv4', 'ipv6']))).toMatchObject({ announce: [['ipv6', ['2001:db8::1/128']]] });
    rib.resend('ipv6');
    expect(names(rib.takeDelta())).toMatchObject({ announce: [['ipv6', ['2001:db8::1/128']]] });
    rib.delete('2001:db8::1');
    rib.resend();
    // A fresh peer never had the withdrawn route: nothing to withdraw.
    expect(names(rib.takeDelta())).toEqual({ announce: [['ipv4', ['203.0.113.1/32']]], withdraw: { ipv4: [], ipv6: [] } });
  });

  it('canonicalises prefix text (bare address = host route) and rejects host bits', () => {
    const rib = new AdjRibOut();
    rib.set('2001:DB8:0:0::1');
    expect(rib.has('2001:db8::1/128')).toBe(true);
    expect(() => rib.set('203.0.113.1/24')).toThrow(/host bits/);
    expect(() => rib.set('203.0.113.256')).toThrow(/203\.0\.113\.256/);
  });
});

describe('FSM table', () => {
  it('every state has ManualStop -> Idle', () => {
    for (const s of Object.keys(transitions) as SessionState[]) expect(nextState(s, 'ManualStop')).toBe('Idle');
  });

  it('messages only move the FSM where RFC 4271 allows', () => {
    const expected: Array<[SessionState, FsmEvent, SessionState | undefined]> = [
      ['Idle', 'ManualStart', 'Connect'],
      ['Idle', 'ManualStartPassive', 'Active'],
      ['Connect', 'TcpConnectionConfirmed', 'OpenSent'],
      ['Connect', 'TcpConnectionFails', 'Active'],
      ['Active', 'ConnectRetryTimerExpires', 'Connect'],
      ['OpenSent', 'BgpOpen', 'OpenConfirm'],
      ['OpenSent', 'KeepAliveMsg', undefined],
      ['OpenConfirm', 'KeepAliveMsg', 'Established'],
      ['OpenConfirm', 'UpdateMsg', undefined],
      ['Established', 'BgpOpen', undefined],
      ['Established', 'HoldTimerExpires', 'Idle'],
    ];
    for (const [from, event, to] of expected) expect(nextState(from, event)).toBe(to);
  });

  it('back-off doubles from the minimum to the maximum with bounded jitter', () => {
    expect([0, 1, 2, 6, 7, 30].map((n) => backoffDelayMs(n, 0.5))).toEqual([1000, 2000, 4000, 64000, 120000, 120000]);
    for (let n = 0; n < 12; n++) {
      for (const r of [0, 0.3, 0.99]) {
        const d = backoffDelayMs(n, r);
        expect(d).toBeGreaterThanOrEqual(1000);
        expect(d).toBeLessThanOrEqual(120000);
      }
    }
  });
});
