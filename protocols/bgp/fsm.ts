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
    BgpOpen: 'OpenConfirm',
    CollisionLost: 'OpenSent',
    TcpConnectionFails: 'Active',
    HoldTimerExpires: 'Idle',
    NotifMsg: 'Idle',
    ProtocolError: 'Idle',
    ManualStop: 'Idle',
  },
  OpenConfirm: {
    KeepAliveMsg: 'Established',
    CollisionLost: 'OpenSent',
    TcpConnectionFails: 'Idle',
    HoldTimerExpires: 'Idle',
    NotifMsg: 'Idle',
    ProtocolError: 'Idle',
    ManualStop: 'Idle',
  },
  Established: {
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

/** RFC 6608 subcode for an unexpected message in a state. */
export function fsmErrorSubcode(state: SessionState): number {
  return state === 'OpenSent' ? 1 : state === 'OpenConfirm' ? 2 : state === 'Established' ? 3 : 0;
}

/** Connect-retry back-off: 1 s doubling to 2 min, jittered by ±25 % (random in [0, 1)), clamped. */
export function backoffDelayMs(failures: number, random: number, minMs = 1000, maxMs = 120_000): number {
  const base = Math.min(maxMs, minMs * 2 ** Math.min(failures, 20));
  return Math.round(Math.min(maxMs, Math.max(minMs, base * (0.75 + 0.5 * random))));
}
