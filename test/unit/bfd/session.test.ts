import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../../protocols/clock.js';
import { transitions } from '../../../protocols/bfd/fsm.js';
import { decode, Diag, encode, type BfdState, type ControlPacket } from '../../../protocols/bfd/packet.js';
import { BfdSession, type BfdSessionConfig, type BfdStateChange } from '../../../protocols/bfd/session.js';

interface Sent {
  at: number;
  p: ControlPacket;
  buf: Buffer;
}

function harness(clock: ManualClock, config: Partial<BfdSessionConfig> = {}, random = () => 0.5) {
  const sent: Sent[] = [];
  const changes: Array<BfdStateChange & { at: number }> = [];
  let deliver: ((p: ControlPacket) => void) | null = null;
  const session = new BfdSession(
    { transmitIntervalMs: 300, receiveIntervalMs: 300, detectMultiplier: 3, localDiscriminator: 0x1111, ...config },
    {
      clock,
      random,
      send: (buf, length) => {
        const p = decode(buf.subarray(0, length), 0);
        sent.push({ at: clock.now(), p, buf });
        deliver?.(p);
      },
      onStateChange: (c) => changes.push({ ...c, at: clock.now() }),
    },
  );
  return { session, sent, changes, connect: (fn: (p: ControlPacket) => void) => (deliver = fn) };
}

/** A packet from the remote system (discriminator 0x2222). */
function remote(state: BfdState, over: Partial<ControlPacket> = {}): ControlPacket {
  return {
    diag: 0,
    state,
    poll: false,
    final: false,
    controlPlaneIndependent: false,
    demand: false,
    detectMult: 3,
    myDiscriminator: 0x2222,
    yourDiscriminator: state === 'Down' || state === 'AdminDown' ? 0 : 0x1111,
    desiredMinTxInterval: 300_000,
    requiredMinRxInterval: 300_000,
    requiredMinEchoRxInterval: 0,
    ...over,
  };
}

/** Two sessions wired through the clock; `links` decide whether each direction delivers. */
function pair(clock: ManualClock) {
  const a = harness(clock, { localDiscriminator: 0xa });
  const b = harness(clock, { localDiscriminator: 0xb }, () => 0.3);
  const links = { aToB: true, bToA: true };
  a.connect((p) => links.aToB && clock.setTimeout(() => b.session.receive(p), 1));
  b.connect((p) => links.bToA && clock.setTimeout(() => a.session.receive(p), 1));
  return { a, b, links };
}

const intervals = (sent: Sent[]): number[] => sent.slice(1).map((s, i) => s.at - sent[i].at);

describe('BFD FSM table (RFC 5880 §6.2)', () => {
  it('has exactly the RFC transitions', () => {
    const flat = Object.entries(transitions).flatMap(([from, evs]) => Object.entries(evs).map(([ev, t]) => `${from}+${ev}->${t.to}/${t.diag}`));
    expect(flat.sort()).toEqual(
      [
        'AdminDown+AdminUp->Down/0',
        'Down+RecvDown->Init/0',
        'Down+RecvInit->Up/0',
        'Down+AdminDown->AdminDown/7',
        'Init+RecvAdminDown->Down/3',
        'Init+RecvInit->Up/0',
        'Init+RecvUp->Up/0',
        'Init+DetectTimerExpired->Down/1',
        'Init+AdminDown->AdminDown/7',
        'Up+RecvAdminDown->Down/3',
        'Up+RecvDown->Down/3',
        'Up+DetectTimerExpired->Down/1',
        'Up+AdminDown->AdminDown/7',
      ].sort(),
    );
  });
});

describe('BFD session', () => {
  it('Down: sends at once, then every 750-1000 ms advertising 1 s (§6.8.3 slow TX)', () => {
    const clock = new ManualClock();
    const h = harness(clock, {}, Math.random);
    h.session.start();
    clock.advance(10_000);
    expect(h.sent[0].at).toBe(0);
    expect(h.sent.length).toBeGreaterThanOrEqual(10);
    for (const d of intervals(h.sent)) {
      expect(d).toBeGreaterThanOrEqual(750);
      expect(d).toBeLessThanOrEqual(1000);
    }
    for (const s of h.sent) expect(s.p).toMatchObject({ state: 'Down', desiredMinTxInterval: 1_000_000, requiredMinRxInterval: 300_000, yourDiscriminator: 0, myDiscriminator: 0x1111, detectMult: 3, poll: false });
  });

  it('reuses one buffer for every packet it sends', () => {
    const clock = new ManualClock();
    const h = harness(clock);
    h.session.start();
    clock.advance(5000);
    expect(new Set(h.sent.map((s) => s.buf)).size).toBe(1);
  });

  it('Down -> Init on a Down packet, Init -> Up on Init/Up; Down -> Up on Init', () => {
    const clock = new ManualClock();
    const h = harness(clock);
    h.session.start();
    h.session.receive(remote('Down'));
    expect(h.session.state).toBe('Init');
    expect(h.sent.at(-1)?.p).toMatchObject({ state: 'Init', yourDiscriminator: 0x2222 });
    h.session.receive(remote('Up'));
    expect(h.session.state).toBe('Up');
    const h2 = harness(new ManualClock());
    h2.session.start();
    h2.session.receive(remote('Init'));
    expect(h2.session.state).toBe('Up');
    expect(h.changes.map((c) => `${c.from}->${c.to}`)).toEqual(['Down->Init', 'Init->Up']);
  });

  it('Down stays Down on Up and AdminDown packets', () => {
    const h = harness(new ManualClock());
    h.session.start();
    h.session.receive(remote('Up'));
    h.session.receive(remote('AdminDown'));
    expect(h.session.state).toBe('Down');
    expect(h.changes).toEqual([]);
  });

  it('two sessions come Up, then poll/final moves both to 300 ms with 75-100 % jitter', () => {
    const clock = new ManualClock();
    const { a, b } = pair(clock);
    a.session.start();
    b.session.start();
    clock.advance(3000);
    expect(a.session.state).toBe('Up');
    expect(b.session.state).toBe('Up');
    // Going Up lowered the TX interval: a poll sequence, answered with a Final.
    expect(a.sent.some((s) => s.p.poll && s.p.state === 'Up')).toBe(true);
    expect(b.sent.some((s) => s.p.final)).toBe(true);
    expect(a.session.pollInProgress).toBe(false);
    expect(a.session.txIntervalMs).toBe(300);
    expect(a.session.detectTimeMs).toBe(900);
    const from = a.sent.length;
    clock.advance(30_000);
    const periodic = a.sent.slice(from).filter((s) => !s.p.final);
    for (const d of intervals(periodic)) {
      expect(d).toBeGreaterThanOrEqual(225);
      expect(d).toBeLessThanOrEqual(300);
    }
    expect(a.session.state).toBe('Up');
    for (const s of a.sent.slice(from)) expect(s.p.desiredMinTxInterval).toBe(300_000);
  });

  it('jitter is 75-90 % when Detect Mult is 1 (§6.8.7)', () => {
    const clock = new ManualClock();
    for (const r of [0, 0.999]) {
      const h = harness(clock, { detectMultiplier: 1 }, () => r);
      h.session.start();
      clock.advance(5000);
      for (const d of intervals(h.sent)) expect(d / 1000).toBeCloseTo(r === 0 ? 0.75 : 0.75 + 0.15 * 0.999, 5);
      h.session.stop();
    }
  });

  it('failure: the remote falls silent -> Down after the Detection Time, diag 1; the remote is forgotten', () => {
    const clock = new ManualClock();
    const { a, b, links } = pair(clock);
    a.session.start();
    b.session.start();
    clock.advance(3000);
    expect(a.session.state).toBe('Up');
    // B -> A cut: A detects; A's Down then takes B down too (diag 3) since A -> B still works.
    links.bToA = false;
    const cutAt = clock.now();
    clock.advance(2000);
    const down = a.changes.find((c) => c.to === 'Down')!;
    expect(down).toMatchObject({ from: 'Up', diag: Diag.ControlDetectionTimeExpired, detectTimeMs: 900 });
    expect(down.at - cutAt).toBeLessThanOrEqual(900);
    expect(down.silentMs).toBeGreaterThanOrEqual(900);
    expect(b.changes.find((c) => c.to === 'Down')).toMatchObject({ from: 'Up', diag: Diag.NeighborSignaledSessionDown, remoteDiag: Diag.ControlDetectionTimeExpired });
    expect(a.session.remoteDiscriminator).toBe(0);
    expect(a.sent.at(-1)?.p.yourDiscriminator).toBe(0);
    expect(a.sent.at(-1)?.p.desiredMinTxInterval).toBe(1_000_000);
    // Healed: both Up again.
    links.bToA = true;
    clock.advance(5000);
    expect(a.session.state).toBe('Up');
    expect(b.session.state).toBe('Up');
  });

  it('failure the other way: A -> B cut, B detects, A learns nothing until B says Down', () => {
    const clock = new ManualClock();
    const { a, b, links } = pair(clock);
    a.session.start();
    b.session.start();
    clock.advance(3000);
    links.aToB = false;
    clock.advance(2000);
    expect(b.changes.find((c) => c.to === 'Down')).toMatchObject({ diag: Diag.ControlDetectionTimeExpired });
    expect(a.changes.find((c) => c.to === 'Down')).toMatchObject({ diag: Diag.NeighborSignaledSessionDown });
  });

  it('both directions cut: each side detects on its own', () => {
    const clock = new ManualClock();
    const { a, b, links } = pair(clock);
    a.session.start();
    b.session.start();
    clock.advance(3000);
    links.aToB = links.bToA = false;
    clock.advance(2000);
    for (const s of [a, b]) expect(s.changes.find((c) => c.to === 'Down')).toMatchObject({ diag: Diag.ControlDetectionTimeExpired });
  });

  it('Init times out to Down (diag 1)', () => {
    const clock = new ManualClock();
    const h = harness(clock);
    h.session.start();
    h.session.receive(remote('Down', { desiredMinTxInterval: 1_000_000 }));
    expect(h.session.state).toBe('Init');
    // Detection Time = 3 x max(300 ms, remote's 1 s).
    expect(h.session.detectTimeMs).toBe(3000);
    clock.advance(2999);
    expect(h.session.state).toBe('Init');
    clock.advance(1);
    expect(h.session.state).toBe('Down');
    expect(h.changes.at(-1)).toMatchObject({ from: 'Init', diag: Diag.ControlDetectionTimeExpired, silentMs: 3000 });
  });

  it('remote AdminDown while Up -> Down, diag 3; while Init -> Down', () => {
    const clock = new ManualClock();
    const h = harness(clock);
    h.session.start();
    h.session.receive(remote('Init'));
    expect(h.session.state).toBe('Up');
    h.session.receive(remote('AdminDown', { diag: Diag.AdministrativelyDown }));
    expect(h.changes.at(-1)).toMatchObject({ from: 'Up', to: 'Down', diag: Diag.NeighborSignaledSessionDown, remoteDiag: Diag.AdministrativelyDown });
    h.session.receive(remote('Down'));
    expect(h.session.state).toBe('Init');
    h.session.receive(remote('AdminDown'));
    expect(h.changes.at(-1)).toMatchObject({ from: 'Init', to: 'Down', diag: Diag.NeighborSignaledSessionDown });
  });

  it('local AdminDown: announced at once with diag 7, packets ignored, no detection; AdminUp -> Down', () => {
    const clock = new ManualClock();
    const h = harness(clock);
    h.session.start();
    h.session.receive(remote('Init'));
    const n = h.sent.length;
    h.session.adminDown();
    expect(h.sent.length).toBe(n + 1);
    expect(h.sent.at(-1)?.p).toMatchObject({ state: 'AdminDown', diag: Diag.AdministrativelyDown });
    h.session.receive(remote('Up'));
    clock.advance(10_000);
    expect(h.session.state).toBe('AdminDown');
    expect(h.sent.slice(n).every((s) => s.p.state === 'AdminDown')).toBe(true);
    h.session.adminUp();
    expect(h.session.state).toBe('Down');
  });

  it('passive: silent until the remote is heard, then answers and runs normally; silent again once forgotten', () => {
    const clock = new ManualClock();
    const h = harness(clock, { passive: true });
    h.session.start();
    clock.advance(5000);
    expect(h.sent).toEqual([]);
    h.session.receive(remote('Down', { desiredMinTxInterval: 1_000_000 }));
    expect(h.sent.length).toBeGreaterThan(0);
    expect(h.sent[0].p).toMatchObject({ state: 'Init', yourDiscriminator: 0x2222 });
    clock.advance(3000);
    expect(h.session.state).toBe('Down');
    const n = h.sent.length;
    clock.advance(10_000);
    expect(h.sent.length).toBe(n);
  });

  it('answers a Poll with a Final at once, without P (§6.5)', () => {
    const clock = new ManualClock();
    const h = harness(clock);
    h.session.start();
    h.session.receive(remote('Init'));
    const n = h.sent.length;
    h.session.receive(remote('Up', { poll: true }));
    expect(h.sent.length).toBe(n + 1);
    expect(h.sent.at(-1)?.p).toMatchObject({ final: true, poll: false });
  });

  it('slower TX while Up waits for the Final; a smaller RX keeps the longer Detection Time until then (§6.8.3)', () => {
    const clock = new ManualClock();
    const h = harness(clock);
    h.session.start();
    h.session.receive(remote('Init'));
    h.session.receive(remote('Up', { final: true }));
    expect(h.session.pollInProgress).toBe(false);
    expect(h.session.txIntervalMs).toBe(300);
    h.session.setTimers({ transmitIntervalMs: 600, receiveIntervalMs: 100, detectMultiplier: 3 });
    expect(h.session.pollInProgress).toBe(true);
    expect(h.session.txIntervalMs).toBe(300);
    h.session.receive(remote('Up', { desiredMinTxInterval: 100_000 }));
    expect(h.session.detectTimeMs).toBe(900);
    clock.advance(300);
    expect(h.sent.at(-1)?.p).toMatchObject({ poll: true, desiredMinTxInterval: 600_000, requiredMinRxInterval: 100_000 });
    h.session.receive(remote('Up', { final: true, desiredMinTxInterval: 100_000 }));
    expect(h.session.pollInProgress).toBe(false);
    expect(h.session.txIntervalMs).toBe(600);
    expect(h.session.detectTimeMs).toBe(300);
    clock.advance(700);
    expect(h.sent.at(-1)?.p.poll).toBe(false);
  });

  it('a shorter remote RX interval takes effect for the next packet, not after the old slot', () => {
    const clock = new ManualClock();
    const h = harness(clock, { transmitIntervalMs: 50 });
    h.session.start();
    h.session.receive(remote('Init', { requiredMinRxInterval: 2_000_000 }));
    expect(h.session.txIntervalMs).toBe(2000);
    const n = h.sent.length;
    h.session.receive(remote('Up', { requiredMinRxInterval: 50_000 }));
    clock.advance(60);
    expect(h.sent.length).toBeGreaterThan(n);
  });

  it('Required Min RX 0 from the remote: no periodic packets (§6.8.7)', () => {
    const clock = new ManualClock();
    const h = harness(clock);
    h.session.start();
    h.session.receive(remote('Down', { requiredMinRxInterval: 0 }));
    const n = h.sent.length;
    clock.advance(10_000);
    expect(h.sent.length).toBe(n);
  });

  // Issue 13's FRR freeze: the router declares us Down while our process is stopped and says so with
  // Your Discriminator 0 (it forgets ours, §6.8.1); on SIGCONT our timers and the queued packets run
  // in either order. Either way we go Down (never stay Up) and come back Up with the router.
  for (const order of ['timers first', 'packets first'] as const) {
    it(`resumed after a freeze the router took for a failure (${order}): Down, then Up again`, () => {
      const clock = new ManualClock();
      // Timers that fall due while frozen run only at the resume, as a stopped process's would.
      let frozen = false;
      const late: Array<() => void> = [];
      const laggy = {
        now: () => clock.now(),
        setTimeout: (fn: () => void, ms: number) => clock.setTimeout(() => (frozen ? late.push(fn) : fn()), ms),
        clearTimeout: (t: ReturnType<ManualClock['setTimeout']>) => clock.clearTimeout(t),
      };
      const changes: BfdStateChange[] = [];
      const session = new BfdSession({ transmitIntervalMs: 300, receiveIntervalMs: 300, detectMultiplier: 3, localDiscriminator: 0x1111 }, { clock: laggy, send: () => undefined, onStateChange: (c) => changes.push(c), random: () => 0.5 });
      session.start();
      session.receive(remote('Init'));
      session.receive(remote('Up', { final: true }));
      expect(session.state).toBe('Up');
      const before = changes.length;
      frozen = true;
      // The router's packets queue up: Up until its Detection Time, then Down with Your Discriminator 0.
      const queued = [remote('Up'), remote('Up'), remote('Down', { diag: Diag.ControlDetectionTimeExpired, yourDiscriminator: 0 })];
      clock.advance(1000);
      frozen = false;
      const runLate = (): void => {
        for (const fn of late.splice(0)) fn();
      };
      if (order === 'timers first') runLate();
      for (const p of queued) session.receive(p);
      runLate();
      expect(changes[before]).toMatchObject({ from: 'Up', to: 'Down', diag: order === 'timers first' ? Diag.ControlDetectionTimeExpired : Diag.NeighborSignaledSessionDown });
      expect(session.state).not.toBe('Up');
      // The router answers our Down/Init as FRR does: Init, then Up.
      session.receive(remote(session.state === 'Init' ? 'Up' : 'Init'));
      if (session.state === 'Init') session.receive(remote('Up'));
      expect(session.state).toBe('Up');
    });
  }

  it('a peer that restarted its session (new My Discriminator, Down with Your Discriminator 0) takes an Up session Down, then Up with the new one', () => {
    const h = harness(new ManualClock());
    h.session.start();
    h.session.receive(remote('Init'));
    expect(h.session.state).toBe('Up');
    h.session.receive(remote('Down', { myDiscriminator: 0x3333, yourDiscriminator: 0 }));
    expect(h.changes.at(-1)).toMatchObject({ from: 'Up', to: 'Down', diag: Diag.NeighborSignaledSessionDown });
    h.session.receive(remote('Down', { myDiscriminator: 0x3333, yourDiscriminator: 0 }));
    expect(h.session.state).toBe('Init');
    expect(h.sent.at(-1)?.p).toMatchObject({ state: 'Init', yourDiscriminator: 0x3333 });
    h.session.receive(remote('Up', { myDiscriminator: 0x3333 }));
    expect(h.session.state).toBe('Up');
  });

  it('drops packets with the A bit (no authentication configured) and a foreign Your Discriminator', () => {
    const h = harness(new ManualClock());
    h.session.start();
    expect(h.session.receive(remote('Down', { auth: { type: 'simple', keyId: 1, password: Buffer.from('x') } }))).toBe('auth');
    expect(h.session.receive(remote('Up', { yourDiscriminator: 0x9999 }))).toBe('discriminator');
    expect(h.session.state).toBe('Down');
    expect(h.session.counters.rxDropped).toBe(2);
  });

  it('stop() clears every timer', () => {
    const clock = new ManualClock();
    const h = harness(clock);
    h.session.start();
    h.session.receive(remote('Init'));
    h.session.stop();
    expect(clock.pending()).toBe(0);
  });

  it('keeps the configured rate over a long run (one packet per jittered interval)', () => {
    const clock = new ManualClock();
    const h = harness(clock, { transmitIntervalMs: 1000 }, () => 0.999999);
    h.session.start();
    clock.advance(100_000);
    // 100 s at ~1000 ms (jitter at its top): about 100 packets.
    expect(h.sent.length).toBeGreaterThanOrEqual(100);
  });

  it('rejects out-of-range timers', () => {
    const clock = new ManualClock();
    expect(() => harness(clock, { detectMultiplier: 0 })).toThrow(/detectMultiplier/);
    expect(() => harness(clock, { localDiscriminator: 0 })).toThrow(/localDiscriminator/);
  });

  it('its packets decode as valid (encoder and §6.8.6 agree)', () => {
    const buf = Buffer.alloc(24);
    expect(() => decode(buf.subarray(0, encode(remote('Up'), buf, 0)), 0)).not.toThrow();
  });
});
