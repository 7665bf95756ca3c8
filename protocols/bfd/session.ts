// One BFD session in asynchronous mode (RFC 5880 §6.8): the state variables of §6.8.1, reception
// (§6.8.6), periodic jittered transmission (§6.8.7), the Detection Time (§6.8.4), poll/final on
// parameter changes (§6.5, §6.8.3). States change only through fsm.ts. Time comes from an
// injected Clock; the transport is a send callback. Demand mode and echo are not implemented.
import type { Clock, TimerHandle } from '../clock.js';
import { nextState, receivedEvent, type BfdEvent } from './fsm.js';
import { Diag, encode, MAX_LENGTH, type BfdState, type ControlPacket } from './packet.js';

/** §6.8.3: while not Up, the transmit interval advertised and used is at least one second. */
export const SLOW_TX_US = 1_000_000;

export interface BfdTimers {
  /** Desired Min TX Interval, milliseconds. */
  transmitIntervalMs: number;
  /** Required Min RX Interval, milliseconds. */
  receiveIntervalMs: number;
  detectMultiplier: number;
}

export interface BfdSessionConfig extends BfdTimers {
  /** bfd.LocalDiscr: non-zero and unique among our sessions (the transport allocates it). */
  localDiscriminator: number;
  /** Passive role (§6.1): send nothing until the remote system has been heard. */
  passive?: boolean;
}

export interface BfdStateChange {
  from: BfdState;
  to: BfdState;
  /** Our diagnostic after the change. */
  diag: number;
  /** The remote's diagnostic in its last packet. */
  remoteDiag: number;
  /** On a Detection Time expiry: milliseconds since the last valid packet, and the Detection Time in force. */
  silentMs?: number;
  detectTimeMs?: number;
}

export interface BfdSessionDeps {
  clock: Clock;
  /** Sends the first `length` bytes of `packet` (the session's own buffer, reused for every packet). */
  send: (packet: Buffer, length: number) => void;
  onStateChange?: (change: BfdStateChange) => void;
  /** Uniform in [0, 1) for the jitter; Math.random by default. */
  random?: () => number;
}

/** Why a received packet was discarded by the session (after the codec's checks). */
export type SessionDrop = 'auth' | 'discriminator';

export class BfdSession {
  readonly localDiscriminator: number;
  private readonly deps: BfdSessionDeps;
  private readonly random: () => number;
  private readonly passive: boolean;
  private cfg: BfdTimers;

  private _state: BfdState = 'Down';
  private localDiag: number = Diag.None;
  private remoteDiscr = 0;
  private remoteState: BfdState = 'Down';
  private remoteDiag = 0;
  /** µs; §6.8.1 initial value 1. */
  private remoteMinRx = 1;
  private remoteDesiredTx = 0;
  private remoteDetectMult = 0;

  /** What our packets say (µs). */
  private advertisedTx: number;
  private advertisedRx: number;
  /** What we use until a poll sequence confirms the advertised values (§6.8.3). */
  private effectiveTx: number;
  private effectiveRx: number;
  private pollActive = false;

  private running = false;
  private txTimer: TimerHandle | null = null;
  private txDue = 0;
  private detectTimer: TimerHandle | null = null;
  private detectDue = 0;
  private lastRxAt = 0;

  // The send path re-encodes this object into this buffer: no allocation per packet.
  private readonly packet: ControlPacket;
  private readonly buf = Buffer.alloc(MAX_LENGTH);

  readonly counters = { txPackets: 0, rxPackets: 0, rxDropped: 0, upTransitions: 0, downTransitions: 0 };

  constructor(config: BfdSessionConfig, deps: BfdSessionDeps) {
    checkTimers(config);
    if (!Number.isInteger(config.localDiscriminator) || config.localDiscriminator < 1 || config.localDiscriminator > 0xffffffff) {
      throw new RangeError(`localDiscriminator ${config.localDiscriminator} outside 1..4294967295`);
    }
    this.localDiscriminator = config.localDiscriminator;
    this.deps = deps;
    this.random = deps.random ?? Math.random;
    this.passive = config.passive === true;
    this.cfg = { transmitIntervalMs: config.transmitIntervalMs, receiveIntervalMs: config.receiveIntervalMs, detectMultiplier: config.detectMultiplier };
    this.advertisedTx = Math.max(config.transmitIntervalMs * 1000, SLOW_TX_US);
    this.advertisedRx = config.receiveIntervalMs * 1000;
    this.effectiveTx = this.advertisedTx;
    this.effectiveRx = this.advertisedRx;
    this.packet = {
      diag: 0,
      state: 'Down',
      poll: false,
      final: false,
      controlPlaneIndependent: false,
      demand: false,
      detectMult: config.detectMultiplier,
      myDiscriminator: config.localDiscriminator,
      yourDiscriminator: 0,
      desiredMinTxInterval: this.advertisedTx,
      requiredMinRxInterval: this.advertisedRx,
      requiredMinEchoRxInterval: 0,
    };
  }

  get state(): BfdState {
    return this._state;
  }

  get diag(): number {
    return this.localDiag;
  }

  get remoteDiscriminator(): number {
    return this.remoteDiscr;
  }

  get remoteSessionState(): BfdState {
    return this.remoteState;
  }

  get pollInProgress(): boolean {
    return this.pollActive;
  }

  /** The periodic transmit interval before jitter (ms), or null when §6.8.7 forbids periodic packets. */
  get txIntervalMs(): number | null {
    if (this.remoteMinRx === 0) return null;
    return Math.max(this.effectiveTx, this.remoteMinRx) / 1000;
  }

  /** The Detection Time (ms) in force: remote Detect Mult × max(our RX, remote TX) (§6.8.4); 0 before any packet. */
  get detectTimeMs(): number {
    return (this.remoteDetectMult * Math.max(this.effectiveRx, this.remoteDesiredTx)) / 1000;
  }

  /** Starts transmitting (unless passive and not yet heard). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.txDue = this.deps.clock.now();
    this.transmitAndSchedule();
  }

  /** Stops every timer; sends nothing more. The session may not be started again. */
  stop(): void {
    this.running = false;
    this.clearTx();
    if (this.detectTimer) this.deps.clock.clearTimeout(this.detectTimer);
    this.detectTimer = null;
  }

  /** Administrative disable (§6.8.16): AdminDown, announced at once and then at the slow rate. */
  adminDown(): void {
    this.apply('AdminDown');
  }

  adminUp(): void {
    this.apply('AdminUp');
  }

  /** New timers: applied through a poll sequence when Up (§6.8.3), at once otherwise. */
  setTimers(timers: BfdTimers): void {
    checkTimers(timers);
    const multChanged = this.packet.detectMult !== timers.detectMultiplier;
    this.cfg = { ...timers };
    this.packet.detectMult = timers.detectMultiplier;
    const tx = this._state === 'Up' ? timers.transmitIntervalMs * 1000 : Math.max(timers.transmitIntervalMs * 1000, SLOW_TX_US);
    this.changeAdvertised(tx, timers.receiveIntervalMs * 1000, true, multChanged);
  }

  /**
   * A packet the codec accepted and the transport matched to this session (§6.8.6 from "If the A bit
   * is set"). Returns null when processed, or why it was discarded.
   */
  receive(p: ControlPacket): SessionDrop | null {
    if (p.auth !== undefined) return this.drop('auth'); // no authentication configured: §6.8.6 discards
    if (p.yourDiscriminator !== 0 && p.yourDiscriminator !== this.localDiscriminator) return this.drop('discriminator');
    this.counters.rxPackets++;
    const heardBefore = this.remoteDiscr !== 0;
    this.remoteDiscr = p.myDiscriminator;
    this.remoteState = p.state;
    this.remoteDiag = p.diag;
    this.remoteDetectMult = p.detectMult;
    const oldInterval = this.txIntervalMs;
    this.remoteMinRx = p.requiredMinRxInterval;
    this.remoteDesiredTx = p.desiredMinTxInterval;
    if (p.final && this.pollActive) {
      // The remote has seen our new values: use them (§6.5).
      this.pollActive = false;
      this.effectiveTx = this.advertisedTx;
      this.effectiveRx = this.advertisedRx;
    }
    if (this._state === 'AdminDown') return null;
    this.lastRxAt = this.deps.clock.now();
    this.armDetect();
    const changed = this.apply(receivedEvent(p.state));
    if (p.poll) this.transmit(true); // §6.8.7: answer a Poll with a Final at once
    if (!changed && this.running) {
      if (!heardBefore && this.txTimer === null) {
        // Passive, or forgotten after a Detection Time: now we may talk again.
        this.txDue = this.deps.clock.now();
        this.transmitAndSchedule();
      }
      else if (this.txIntervalMs !== oldInterval) this.rescheduleSooner();
    }
    return null;
  }

  private drop(why: SessionDrop): SessionDrop {
    this.counters.rxDropped++;
    return why;
  }

  /** Runs an event through the table; performs the side effects of a state change. Returns whether the state changed. */
  private apply(event: BfdEvent): boolean {
    const t = nextState(this._state, event);
    if (!t) return false;
    const from = this._state;
    this._state = t.to;
    this.localDiag = t.diag;
    const change: BfdStateChange = { from, to: t.to, diag: t.diag, remoteDiag: this.remoteDiag };
    if (event === 'DetectTimerExpired') {
      change.silentMs = this.deps.clock.now() - this.lastRxAt;
      change.detectTimeMs = this.detectTimeMs;
    }
    if (t.to === 'Up') {
      this.counters.upTransitions++;
      // Up: the configured (faster) rate, confirmed by a poll sequence (§6.8.3).
      this.changeAdvertised(this.cfg.transmitIntervalMs * 1000, this.cfg.receiveIntervalMs * 1000, true);
    } else if (from === 'Up') {
      this.counters.downTransitions++;
      this.changeAdvertised(Math.max(this.cfg.transmitIntervalMs * 1000, SLOW_TX_US), this.cfg.receiveIntervalMs * 1000, false);
    }
    if (t.to === 'AdminDown' && this.detectTimer) {
      this.deps.clock.clearTimeout(this.detectTimer);
      this.detectTimer = null;
    }
    // Tell the remote at once rather than at the next periodic packet.
    if (this.running) {
      this.txDue = this.deps.clock.now();
      this.clearTx();
      this.transmitAndSchedule();
    }
    this.deps.onStateChange?.(change);
    return true;
  }

  /**
   * New advertised values. With `poll` while Up: start a poll sequence and hold the old effective
   * values per §6.8.3 until the Final; otherwise they apply at once.
   */
  private changeAdvertised(tx: number, rx: number, poll: boolean, multChanged = false): void {
    if (tx === this.advertisedTx && rx === this.advertisedRx && !multChanged) return;
    const oldInterval = this.txIntervalMs;
    this.advertisedTx = tx;
    this.advertisedRx = rx;
    if (poll && this._state === 'Up') {
      this.pollActive = true;
      // A slower TX waits for the Final; a smaller RX keeps the longer Detection Time until then.
      this.effectiveTx = Math.min(this.effectiveTx, tx);
      this.effectiveRx = Math.max(this.effectiveRx, rx);
    } else {
      this.pollActive = false;
      this.effectiveTx = tx;
      this.effectiveRx = rx;
    }
    if (this.txIntervalMs !== oldInterval) this.rescheduleSooner();
    if (this.detectTimer) this.armDetect();
  }

  private canTransmit(): boolean {
    if (!this.running) return false;
    if (this.passive && this.remoteDiscr === 0) return false;
    return this.remoteMinRx !== 0;
  }

  /** Fills the reused packet and sends it; `final` answers a poll (never with P, §6.5). */
  private transmit(final: boolean): void {
    if (!this.running || (this.passive && this.remoteDiscr === 0)) return;
    const p = this.packet;
    p.state = this._state;
    p.diag = this.localDiag;
    p.yourDiscriminator = this.remoteDiscr;
    p.desiredMinTxInterval = this.advertisedTx;
    p.requiredMinRxInterval = this.advertisedRx;
    p.final = final;
    p.poll = !final && this.pollActive;
    const n = encode(p, this.buf, 0);
    this.counters.txPackets++;
    this.deps.send(this.buf, n);
  }

  private readonly onTxTimer = (): void => {
    this.txTimer = null;
    this.transmitAndSchedule();
  };

  /** Sends the periodic packet due now and schedules the next one from its due time (so late timers do not accumulate drift). */
  private transmitAndSchedule(): void {
    if (!this.canTransmit()) return;
    this.transmit(false);
    const interval = this.txIntervalMs;
    if (interval === null) return;
    const now = this.deps.clock.now();
    this.txDue = Math.max(this.txDue + this.jittered(interval), now);
    this.txTimer = this.deps.clock.setTimeout(this.onTxTimer, this.txDue - now);
  }

  /** §6.8.7: each interval reduced by 0-25 % at random (10-25 % when Detect Mult is 1). */
  private jittered(intervalMs: number): number {
    const r = this.random();
    return intervalMs * (this.cfg.detectMultiplier === 1 ? 0.75 + 0.15 * r : 0.75 + 0.25 * r);
  }

  /** The interval shrank (or appeared): do not wait out a long slot scheduled at the old rate. */
  private rescheduleSooner(): void {
    if (!this.canTransmit()) return;
    const interval = this.txIntervalMs;
    if (interval === null) return;
    const now = this.deps.clock.now();
    const due = now + this.jittered(interval);
    if (this.txTimer !== null && this.txDue <= due) return;
    this.clearTx();
    this.txDue = due;
    this.txTimer = this.deps.clock.setTimeout(this.onTxTimer, due - now);
  }

  private clearTx(): void {
    if (this.txTimer) this.deps.clock.clearTimeout(this.txTimer);
    this.txTimer = null;
  }

  /**
   * One timer per session, not one per packet: it fires at lastRx + Detection Time and re-arms
   * itself when packets came meanwhile. Re-armed early only when the Detection Time shrinks.
   */
  private armDetect(): void {
    if (!this.running) return;
    const due = this.lastRxAt + this.detectTimeMs;
    if (this.detectTimer !== null) {
      if (this.detectDue <= due) return;
      this.deps.clock.clearTimeout(this.detectTimer);
    }
    this.detectDue = due;
    this.detectTimer = this.deps.clock.setTimeout(this.onDetectTimer, Math.max(0, due - this.deps.clock.now()));
  }

  private readonly onDetectTimer = (): void => {
    this.detectTimer = null;
    const due = this.lastRxAt + this.detectTimeMs;
    if (this.deps.clock.now() < due) {
      this.armDetect();
      return;
    }
    // §6.8.1: a Detection Time without packets forgets the remote (a passive session then falls silent).
    this.remoteDiscr = 0;
    this.remoteState = 'Down';
    this.apply('DetectTimerExpired');
  };
}

function checkTimers(t: BfdTimers): void {
  for (const [field, v, min, max] of [
    ['transmitIntervalMs', t.transmitIntervalMs, 1, 4_294_967],
    ['receiveIntervalMs', t.receiveIntervalMs, 0, 4_294_967],
    ['detectMultiplier', t.detectMultiplier, 1, 255],
  ] as const) {
    if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`${field} ${v} outside ${min}..${max}`);
  }
}
