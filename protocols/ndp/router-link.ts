// The Router Advertisement side of BGP unnumbered peering on one interface: learns the peer router's
// link-local address from its Router Advertisements (as FRR does), and advertises our own with router
// lifetime 0 (FRR's unnumbered neighbor waits for an RA to learn ours; we are not a default router).
//
// One state per interface, as an explicit machine:
//   down --(interface up, carrier, link-local address; socket opens)--> up
//   up   --(interface gone / down / new MAC or link-local; socket error)--> down (router forgotten)
//   any  --(close)--> closed
// While up: a Router Solicitation at once and up to MAX_SOLICITATIONS while no router is known; an RA
// every intervalMs when sendAdvertisements; the router from the first valid RA, kept until it is
// silent for its router lifetime (3 x intervalMs when it advertises 0). Every frame that fails an
// RFC 4861 §6.1 check is dropped and counted by reason.
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { FrameError } from '../rawio/frame-error.js';
import { macEquals, type Mac } from '../rawio/mac.js';
import { formatIpv6 } from './ipv6-address.js';
import { ICMPV6_ROUTER_ADVERTISEMENT } from './router-advertisement.js';
import { ALL_ROUTERS, decodeRouterFrame, routerAdvertisementFrame, routerDropReason, routerSolicitationFrame, type RouterDropReason } from './router-frames.js';
import { systemRouterLinkIo, type RouterLinkIo, type RouterLinkPort } from './router-link-io.js';

/** FRR's RA interval on an unnumbered interface. */
export const DEFAULT_RA_INTERVAL_MS = 10_000;
/** How often the interface is re-read (down/up, address changes). */
export const DEFAULT_POLL_MS = 1000;
/** RFC 4861 §10: MAX_RTR_SOLICITATIONS, RTR_SOLICITATION_INTERVAL. */
export const MAX_SOLICITATIONS = 3;
export const SOLICITATION_INTERVAL_MS = 4000;
/** RFC 4861 §10: MIN_DELAY_BETWEEN_RAS, the least gap before an RA answering a solicitation. */
export const MIN_DELAY_BETWEEN_RAS_MS = 3000;

export interface RouterLinkLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
}

const silentLog: RouterLinkLog = { info: () => {}, warn: () => {}, debug: () => {} };

export interface RouterLinkOptions {
  ifname: string;
  io?: RouterLinkIo;
  clock?: Clock;
  /** Send periodic RAs (router lifetime 0) so the router learns our link-local address. */
  sendAdvertisements: boolean;
  /** RA period (default 10 s, FRR's for unnumbered). Also the basis of expiry for routers advertising lifetime 0. */
  intervalMs?: number;
  /** Interface re-read period (default 1 s). */
  pollMs?: number;
  /** The router's link-local address (canonical text, no scope) when it first appears, changes or goes (undefined). */
  onRouter: (linkLocal: string | undefined) => void;
  log?: RouterLinkLog;
}

export type RouterLinkDrop = RouterDropReason | 'own';

export interface RouterLinkCounters {
  rsSent: number;
  raSent: number;
  /** Sends that threw or found the queue full. */
  sendErrors: number;
  /** Valid RAs (from any router). */
  raReceived: number;
  rsReceived: number;
  /** Valid RAs from a second router while the first one is alive (ignored: one router per link). */
  otherRouter: number;
  /** onRouter calls. */
  routerChanges: number;
  opens: number;
  openErrors: number;
  /** Frames failing an RFC 4861 §6.1 check, and our own frames looped back. */
  dropped: Record<RouterLinkDrop, number>;
}

interface KnownRouter {
  address: Buffer;
  text: string;
  /** The Ethernet source of its RAs: a renumbered router keeps it. */
  mac: Buffer;
  /** Milliseconds without an RA after which it is forgotten (refreshed by each RA). */
  holdMs: number;
  lastSeen: number;
}

export type RouterLinkState =
  | { kind: 'down' }
  | {
      kind: 'up';
      mac: Mac;
      linkLocal: Buffer;
      port: RouterLinkPort;
      /** Our frames, built once per up. */
      ra: Buffer;
      rs: Buffer;
      lastRaAt: number;
      solicitations: number;
      router: KnownRouter | undefined;
      advertiseTimer: TimerHandle | null;
      solicitTimer: TimerHandle | null;
      expireTimer: TimerHandle | null;
    }
  | { kind: 'closed' };

type UpState = Extract<RouterLinkState, { kind: 'up' }>;

export interface RouterLink {
  /** The router's link-local address now (canonical text, no scope). */
  router(): string | undefined;
  /** Our MAC and link-local address while the interface is up. */
  local(): { mac: Mac; linkLocal: string } | undefined;
  state(): RouterLinkState['kind'];
  readonly counters: RouterLinkCounters;
  close(): void;
}

type Event =
  | { kind: 'poll' }
  | { kind: 'socketError'; err: Error }
  | { kind: 'advertise' }
  | { kind: 'solicit' }
  | { kind: 'expire' }
  | { kind: 'frame'; frame: Buffer }
  | { kind: 'close' };

/** Starts the link; it runs (re-reading the interface every pollMs) until close(). Never throws on I/O errors. */
export function startRouterLink(opts: RouterLinkOptions): RouterLink {
  const io = opts.io ?? systemRouterLinkIo;
  const clock = opts.clock ?? systemClock;
  const log = opts.log ?? silentLog;
  const ifname = opts.ifname;
  const intervalMs = opts.intervalMs ?? DEFAULT_RA_INTERVAL_MS;
  const pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
  const counters: RouterLinkCounters = {
    rsSent: 0,
    raSent: 0,
    sendErrors: 0,
    raReceived: 0,
    rsReceived: 0,
    otherRouter: 0,
    routerChanges: 0,
    opens: 0,
    openErrors: 0,
    dropped: { hopLimit: 0, source: 0, code: 0, checksum: 0, length: 0, malformed: 0, own: 0 },
  };
  let state: RouterLinkState = { kind: 'down' };
  let pollTimer: TimerHandle | null = null;
  // Logged once per failure streak, not every poll.
  let openFailing = false;

  function notify(address: string | undefined): void {
    counters.routerChanges++;
    log.info({ interface: ifname, router: address ?? null }, address ? 'router learned' : 'router lost');
    try {
      opts.onRouter(address);
    } catch (e) {
      log.warn({ interface: ifname, err: (e as Error).message }, 'onRouter failed');
    }
  }

  function send(up: UpState, frame: Buffer, what: 'ra' | 'rs'): void {
    try {
      if (!up.port.send(frame)) {
        counters.sendErrors++;
        return;
      }
    } catch (e) {
      counters.sendErrors++;
      log.debug({ interface: ifname, err: (e as Error).message }, 'send failed');
      return;
    }
    if (what === 'ra') {
      counters.raSent++;
      up.lastRaAt = clock.now();
    } else counters.rsSent++;
  }

  function stopTimers(up: UpState): void {
    for (const t of [up.advertiseTimer, up.solicitTimer, up.expireTimer]) if (t) clock.clearTimeout(t);
    up.advertiseTimer = up.solicitTimer = up.expireTimer = null;
  }

  /** up -> down: closes the socket, forgets the router (telling the caller). */
  function goDown(up: UpState, why: string): void {
    stopTimers(up);
    try {
      up.port.close();
    } catch {
      /* already gone with the interface */
    }
    state = { kind: 'down' };
    log.info({ interface: ifname, why }, 'router link down');
    if (up.router) notify(undefined);
  }

  /** down -> up when the interface can carry RS/RA and the socket opens. */
  function tryUp(): void {
    const facts = io.facts(ifname);
    if (!facts) return;
    let port: RouterLinkPort;
    try {
      port = io.open(ifname, (frame) => dispatch({ kind: 'frame', frame }), (err) => dispatch({ kind: 'socketError', err }));
    } catch (e) {
      counters.openErrors++;
      if (!openFailing) log.warn({ interface: ifname, err: (e as Error).message }, 'cannot open interface (retrying)');
      openFailing = true;
      return;
    }
    openFailing = false;
    counters.opens++;
    const up: UpState = {
      kind: 'up',
      mac: facts.mac,
      linkLocal: facts.linkLocal,
      port,
      ra: routerAdvertisementFrame(facts.mac, facts.linkLocal),
      rs: routerSolicitationFrame(facts.mac, facts.linkLocal),
      lastRaAt: -Infinity,
      solicitations: 0,
      router: undefined,
      advertiseTimer: null,
      solicitTimer: null,
      expireTimer: null,
    };
    state = up;
    log.info({ interface: ifname, linkLocal: formatIpv6(facts.linkLocal), advertising: opts.sendAdvertisements }, 'router link up');
    if (opts.sendAdvertisements) {
      // Hear solicitations (to all routers) on NICs that filter multicast; ff02::1 is always joined.
      try {
        port.joinGroup(ALL_ROUTERS);
      } catch (e) {
        log.debug({ interface: ifname, err: (e as Error).message }, 'cannot join ff02::2');
      }
      advertise(up);
    }
    solicit(up);
  }

  function advertise(up: UpState): void {
    send(up, up.ra, 'ra');
    up.advertiseTimer = clock.setTimeout(() => dispatch({ kind: 'advertise' }), intervalMs);
  }

  function solicit(up: UpState): void {
    up.solicitTimer = null;
    if (up.router || up.solicitations >= MAX_SOLICITATIONS) return;
    up.solicitations++;
    send(up, up.rs, 'rs');
    up.solicitTimer = clock.setTimeout(() => dispatch({ kind: 'solicit' }), SOLICITATION_INTERVAL_MS);
  }

  function scheduleExpiry(up: UpState, r: KnownRouter): void {
    up.expireTimer = clock.setTimeout(() => dispatch({ kind: 'expire' }), Math.max(0, r.lastSeen + r.holdMs - clock.now()));
  }

  /** Every event goes through here. */
  function dispatch(ev: Event): void {
    const s = state;
    if (s.kind === 'closed') return;
    switch (ev.kind) {
      case 'poll': {
        pollTimer = clock.setTimeout(() => dispatch({ kind: 'poll' }), pollMs);
        if (s.kind === 'down') return tryUp();
        const facts = io.facts(ifname);
        if (!facts) return goDown(s, 'interface down, without carrier or link-local address');
        if (!macEquals(facts.mac, s.mac) || !facts.linkLocal.equals(s.linkLocal)) {
          goDown(s, 'MAC or link-local address changed');
          return tryUp();
        }
        return;
      }
      case 'socketError':
        log.warn({ interface: ifname, err: ev.err.message }, 'receive error');
        if (s.kind === 'up') goDown(s, 'socket error');
        return;
      case 'advertise':
        if (s.kind === 'up') advertise(s);
        return;
      case 'solicit':
        if (s.kind === 'up') solicit(s);
        return;
      case 'expire': {
        if (s.kind !== 'up' || !s.router) return;
        s.expireTimer = null;
        const r = s.router;
        // RAs refresh lastSeen without touching the timer: re-arm for the rest instead of per packet.
        if (clock.now() < r.lastSeen + r.holdMs) return scheduleExpiry(s, r);
        s.router = undefined;
        log.info({ interface: ifname, router: r.text, silentMs: clock.now() - r.lastSeen }, 'router expired');
        notify(undefined);
        s.solicitations = 0;
        return solicit(s);
      }
      case 'close':
        if (pollTimer) clock.clearTimeout(pollTimer);
        pollTimer = null;
        if (s.kind === 'up') {
          stopTimers(s);
          try {
            s.port.close();
          } catch {
            /* gone */
          }
        }
        // The caller is tearing down: no onRouter(undefined).
        state = { kind: 'closed' };
        log.info({ interface: ifname }, 'router link closed');
        return;
      case 'frame':
        if (s.kind === 'up') onFrame(s, ev.frame);
        return;
    }
  }

  /** A received frame while up: the router sub-state's transitions (learn, refresh, renumber). */
  function onFrame(s: UpState, frame: Buffer): void {
    // Our own frames (should the kernel loop one back) before any decoding.
    if (frame.length >= 12 && macEquals(frame.subarray(6, 12), s.mac)) {
      counters.dropped.own++;
      return;
    }
    let f;
    try {
      f = decodeRouterFrame(frame);
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      counters.dropped[routerDropReason(e)]++;
      return;
    }
    if (f.ip.src.equals(s.linkLocal)) {
      counters.dropped.own++;
      return;
    }
    if (f.msg.type !== ICMPV6_ROUTER_ADVERTISEMENT) {
      counters.rsReceived++;
      // Answer a solicitation at once unless we advertised very recently (RFC 4861 §6.2.6).
      if (opts.sendAdvertisements && clock.now() - s.lastRaAt >= MIN_DELAY_BETWEEN_RAS_MS) send(s, s.ra, 'ra');
      return;
    }
    counters.raReceived++;
    const now = clock.now();
    const holdMs = f.msg.routerLifetime > 0 ? f.msg.routerLifetime * 1000 : 3 * intervalMs;
    const r = s.router;
    if (r && r.address.equals(f.ip.src)) {
      // Refreshing touches no timer (the armed one re-arms for the rest when it fires), unless the
      // hold got shorter: then re-arm now so it is not overslept.
      const shorter = holdMs < r.holdMs;
      r.lastSeen = now;
      r.holdMs = holdMs;
      if (shorter || !s.expireTimer) {
        if (s.expireTimer) clock.clearTimeout(s.expireTimer);
        scheduleExpiry(s, r);
      }
      return;
    }
    // A second router while the first is alive: keep the first (no flapping between two), unless it
    // is the same station renumbered (same MAC).
    if (r && !macEquals(r.mac, f.eth.src)) {
      counters.otherRouter++;
      return;
    }
    const text = formatIpv6(f.ip.src);
    s.router = { address: f.ip.src, text, mac: f.eth.src, holdMs, lastSeen: now };
    if (s.solicitTimer) clock.clearTimeout(s.solicitTimer);
    s.solicitTimer = null;
    if (s.expireTimer) clock.clearTimeout(s.expireTimer);
    scheduleExpiry(s, s.router);
    notify(text);
  }

  dispatch({ kind: 'poll' });

  return {
    router: () => (state.kind === 'up' ? state.router?.text : undefined),
    local: () => (state.kind === 'up' ? { mac: state.mac, linkLocal: formatIpv6(state.linkLocal) } : undefined),
    state: () => state.kind,
    counters,
    close: () => dispatch({ kind: 'close' }),
  };
}
