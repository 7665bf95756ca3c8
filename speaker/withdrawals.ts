// Withdrawals in bulk: the log lines they make and the event-loop turns they take. At 100,000
// Services a SIGTERM withdrew everything in one 31.6 s turn writing a line per Service (and a fenced
// speaker logs as many): the lines are summarised beyond a few, and a shutdown withdraws in bounded
// batches with a turn between them, so BGP keepalives and the Lease renewal are not held meanwhile.
import type { Logger } from '../kube/log.js';
import type { AnnouncementChange, AnnouncementTracker } from './announcement-tracker.js';
import type { WithdrawReason } from './announcer.js';

type Withdrawn = Extract<AnnouncementChange, { kind: 'withdrawn' }>;

/** Up to this many withdrawals in a run are logged one line each; more: one summary line. */
export const WITHDRAWALS_LOGGED_EACH = 20;
/** Services named in a summary line. */
const EXAMPLES = 3;

/**
 * Collects the withdrawals of one run (a batch of decisions, a shutdown) and logs them at flush():
 * one line each (event serviceWithdrawn) up to WITHDRAWALS_LOGGED_EACH, else one line (event
 * servicesWithdrawn) with the count per protocol and reason and a few of the Services. Holds at
 * most WITHDRAWALS_LOGGED_EACH changes whatever the run's size.
 */
export class WithdrawalLog {
  private held: Withdrawn[] = [];
  private count = 0;
  /** "protocol: reason" -> how many. */
  private readonly counts = new Map<string, number>();
  private examples: string[] = [];
  /** Clock time of the first withdrawal not logged yet (NaN: none). */
  private firstAt = NaN;

  constructor(private readonly log: Logger) {}

  /** Withdrawals waiting to be logged. */
  get pending(): number {
    return this.count;
  }

  /** When the oldest withdrawal waiting was added (NaN: none waits). */
  get since(): number {
    return this.firstAt;
  }

  add(change: Withdrawn, now = NaN): void {
    if (this.count === 0) this.firstAt = now;
    this.count++;
    const kind = `${change.protocol}: ${change.reason}`;
    this.counts.set(kind, (this.counts.get(kind) ?? 0) + 1);
    if (this.examples.length < EXAMPLES) this.examples.push(change.service);
    if (this.count <= WITHDRAWALS_LOGGED_EACH) this.held.push(change);
    else this.held = [];
  }

  /** Logs what was added since the last flush. */
  flush(): void {
    if (this.count === 0) return;
    if (this.count <= WITHDRAWALS_LOGGED_EACH) {
      for (const c of this.held) {
        this.log.info({ service: c.service, ip: c.ips.join(','), event: 'serviceWithdrawn', reason: `${c.protocol}: ${c.reason}` }, `withdrew ${c.service} (${c.protocol}): ${c.reason}`);
      }
    } else {
      const kinds = [...this.counts].map(([kind, n]) => `${kind} ${n}`).join(', ');
      this.log.info({ event: 'servicesWithdrawn', service: this.examples.join(','), reason: kinds }, `withdrew ${this.count} announcements (${kinds}), e.g. ${this.examples.join(', ')}`);
    }
    this.held = [];
    this.count = 0;
    this.counts.clear();
    this.examples = [];
    this.firstAt = NaN;
  }
}

/** Withdrawals per event-loop turn at shutdown (as many as decisions per turn: speaker/dirty-keys.ts). */
export const WITHDRAW_PER_TURN = 500;

/**
 * Withdraws every balancer `tracker` announces, `perTurn` at a time, awaiting `pause` between
 * batches; each change goes to `apply`. Balancers announced meanwhile are withdrawn too.
 */
export async function withdrawInTurns(
  tracker: AnnouncementTracker,
  reason: WithdrawReason,
  apply: (change: AnnouncementChange) => void,
  pause: () => Promise<void>,
  perTurn = WITHDRAW_PER_TURN,
): Promise<void> {
  for (;;) {
    for (const change of tracker.removeSome(reason, perTurn)) apply(change);
    if (tracker.size === 0) return;
    await pause();
  }
}
