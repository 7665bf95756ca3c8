// The session state machine (RFC 4271 §8) as one explicit transition table. The session
// (session.ts) feeds it events and performs the side effects; only this table decides states.

export type SessionState = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';

export type FsmEvent =
  | 'ManualStart' // start() (active mode: connect; passive: wait)
  | 'ManualStop' // stop()
  | 'ManualStartPassive' // start() in passive mode: wait for the router to connect
  | 'AutomaticStart' // restart after an error, once the back-off delay has passed
  | 'AutomaticStartPassive'
  | 'ConnectRetryTimerExpires'
  | 'TcpConnectionConfirmed' // our outgoing connection is up: OPEN sent
  | 'TcpConnectionAccepted' // an incoming connection was adopted: OPEN sent
  | 'TcpConnectionFails'
  | 'BgpOpen' // a valid OPEN: KEEPALIVE sent
  | 'KeepAliveMsg'
  | 'UpdateMsg'
  | 'RouteRefreshMsg'
  | 'NotifMsg' // NOTIFICATION received
  | 'ProtocolError' // we sent a NOTIFICATION (bad message, bad OPEN, FSM error)
  | 'HoldTimerExpires'
  | 'ResourceLimit' // the peer does not read: queued bytes over the cap, Cease/Out of Resources sent
  | 'CollisionLost'; // RFC 4271 §6.8: the other connection won; continue on it from OpenSent

type Table = Record<SessionState, Partial<Record<FsmEvent, SessionState>>>;

/** state -> event -> next state. An event missing for a state is an FSM error (see fsmErrorSubcode). */
export const transitions: Table = {
  Idle: {
    ManualStart: 'Connect',
    ManualStartPassive: 'Active',
    AutomaticStart: 'Connect',
    AutomaticStartPassive: 'Active',
    ManualStop: 'Idle',
    TcpConnectionAccepted: 'OpenSent',
  },
  Connect: {
    TcpConnectionConfirmed: 'OpenSent',
    TcpConnectionAccepted: 'OpenSent',
    TcpConnectionFails: 'Active',
    ManualStop: 'Idle',
  },
  Active: {
    ConnectRetryTimerExpires: 'Connect',
    TcpConnectionAccepted: 'OpenSent',
    ManualStop: 'Idle',
  },
  OpenSent: {
    ResourceLimit: 'Idle',
    BgpOpen: 'OpenConfirm',
    CollisionLost: 'OpenSent',
    TcpConnectionFails: 'Active',
    HoldTimerExpires: 'Idle',
    NotifMsg: 'Idle',
    ProtocolError: 'Idle',
    ManualStop: 'Idle',
  },
  OpenConfirm: {
    ResourceLimit: 'Idle',
    KeepAliveMsg: 'Established',
    CollisionLost: 'OpenSent',
    TcpConnectionFails: 'Idle',
    HoldTimerExpires: 'Idle',
    NotifMsg: 'Idle',
    ProtocolError: 'Idle',
    ManualStop: 'Idle',
  },
  Established: {
    ResourceLimit: 'Idle',
    KeepAliveMsg: 'Established',
    UpdateMsg: 'Established',
    RouteRefreshMsg: 'Established',
    TcpConnectionFails: 'Idle',
    HoldTimerExpires: 'Idle',
    NotifMsg: 'Idle',
    ProtocolError: 'Idle',
    ManualStop: 'Idle',
  },
};

/** The next state, or undefined when the event is not allowed in this state. */
export function nextState(state: SessionState, event: FsmEvent): SessionState | undefined {
  return transitions[state][event];
}

/** Message types (RFC 4271 §4.1 codes) a state expects; any other is an FSM error (RFC 6608). */
const expected: Partial<Record<SessionState, readonly number[]>> = {
  OpenSent: [1, 3], // OPEN, NOTIFICATION
  OpenConfirm: [3, 4], // NOTIFICATION, KEEPALIVE
  Established: [2, 3, 4, 5], // UPDATE, NOTIFICATION, KEEPALIVE, ROUTE-REFRESH
};

/** Whether a message of this type may arrive in this state (checked before its body is decoded). */
export function expectedIn(state: SessionState, type: number): boolean {
  const types = expected[state];
  return types === undefined || types.includes(type);
}

/** RFC 6608 subcode for an unexpected message in a state. */
export function fsmErrorSubcode(state: SessionState): number {
  return state === 'OpenSent' ? 1 : state === 'OpenConfirm' ? 2 : state === 'Established' ? 3 : 0;
}

/** Connect-retry back-off: 1 s doubling to 2 min, jittered by ±25 % (random in [0, 1)), clamped. */
export function backoffDelayMs(failures: number, random: number, minMs = 1000, maxMs = 120_000): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(failures, 20));
  return Math.round(Math.min(maxMs, Math.max(minMs, base * (0.75 + 0.5 * random))));
}
