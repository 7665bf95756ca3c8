// The BFD session state machine (RFC 5880 §6.2, §6.8.6) as one explicit transition table. The
// session (session.ts) feeds it events and performs the side effects; only this table decides states.
import { Diag, type BfdState } from './packet.js';

export type BfdEvent =
  | 'AdminDown' // local administrative disable (§6.8.16)
  | 'AdminUp'
  | 'RecvAdminDown' // a valid packet with State = AdminDown
  | 'RecvDown'
  | 'RecvInit'
  | 'RecvUp'
  | 'DetectTimerExpired'; // no valid packet for a Detection Time (§6.8.4)

export interface Transition {
  to: BfdState;
  /** bfd.LocalDiag after the transition. */
  diag: number;
}

type Table = Record<BfdState, Partial<Record<BfdEvent, Transition>>>;

const down = (diag: number): Transition => ({ to: 'Down', diag });
const adminDown: Transition = { to: 'AdminDown', diag: Diag.AdministrativelyDown };

/** state -> event -> transition. An event missing for a state leaves the state as it is (§6.2). */
export const transitions: Table = {
  AdminDown: {
    AdminUp: { to: 'Down', diag: Diag.None },
  },
  Down: {
    RecvDown: { to: 'Init', diag: Diag.None },
    RecvInit: { to: 'Up', diag: Diag.None },
    AdminDown: adminDown,
  },
  Init: {
    RecvAdminDown: down(Diag.NeighborSignaledSessionDown),
    RecvInit: { to: 'Up', diag: Diag.None },
    RecvUp: { to: 'Up', diag: Diag.None },
    DetectTimerExpired: down(Diag.ControlDetectionTimeExpired),
    AdminDown: adminDown,
  },
  Up: {
    RecvAdminDown: down(Diag.NeighborSignaledSessionDown),
    RecvDown: down(Diag.NeighborSignaledSessionDown),
    DetectTimerExpired: down(Diag.ControlDetectionTimeExpired),
    AdminDown: adminDown,
  },
};

/** The transition for an event, or undefined when the state does not change. */
export function nextState(state: BfdState, event: BfdEvent): Transition | undefined {
  return transitions[state][event];
}

/** The event a received packet's State field is. */
export function receivedEvent(remote: BfdState): BfdEvent {
  return remote === 'AdminDown' ? 'RecvAdminDown' : remote === 'Down' ? 'RecvDown' : remote === 'Init' ? 'RecvInit' : 'RecvUp';
}
