import { describe, expect, it } from 'vitest';
import type { AddressPool } from '../../../config/model.js';
import { createLogger } from '../../../kube/log.js';
import { AnnouncementTracker, type AnnouncementChange } from '../../../speaker/announcement-tracker.js';
import { RecordingAnnouncer } from '../../../speaker/announcer.js';
import { WithdrawalLog, WITHDRAWALS_LOGGED_EACH, withdrawInTurns } from '../../../speaker/withdrawals.js';

const pool: AddressPool = { name: 'l2', protocol: 'layer2', addresses: [], avoidBuggyIps: false, autoAssign: true, bgpAdvertisements: [] };

function logged() {
  const lines: Record<string, unknown>[] = [];
  const log = createLogger({ component: 'speaker', level: 'info', destination: { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) } });
  return { lines, log };
}

function withdrawn(i: number, protocol: 'layer2' | 'bgp' = 'layer2', reason: 'shutdown' | 'fenced' = 'shutdown'): Extract<AnnouncementChange, { kind: 'withdrawn' }> {
  return { kind: 'withdrawn', service: `ns/svc-${i}`, protocol, ips: [`192.0.2.${i % 250}`], reason };
}

function tracker(n: number): { tracker: AnnouncementTracker; announcer: RecordingAnnouncer } {
  const announcer = new RecordingAnnouncer('layer2', { keepCalls: false });
  const t = new AnnouncementTracker(announcer);
  for (let i = 0; i < n; i++) t.sync({ key: `ns/svc-${i}`, ips: [`192.0.2.${i % 250}`], pool: 'l2', externalTrafficPolicy: 'Cluster' }, pool, { readyByNode: new Map([['a', 1]]) });
  return { tracker: t, announcer };
}

describe('WithdrawalLog', () => {
  it('logs a few withdrawals one line each, as before, at flush', () => {
    const { lines, log } = logged();
    const w = new WithdrawalLog(log);
    for (let i = 0; i < 3; i++) w.add(withdrawn(i));
    expect(lines).toHaveLength(0);
    expect(w.pending).toBe(3);
    w.flush();
    expect(lines.map((l) => [l.event, l.service, l.ip, l.reason, l.msg])).toEqual([
      ['serviceWithdrawn', 'ns/svc-0', '192.0.2.0', 'layer2: shutdown', 'withdrew ns/svc-0 (layer2): shutdown'],
      ['serviceWithdrawn', 'ns/svc-1', '192.0.2.1', 'layer2: shutdown', 'withdrew ns/svc-1 (layer2): shutdown'],
      ['serviceWithdrawn', 'ns/svc-2', '192.0.2.2', 'layer2: shutdown', 'withdrew ns/svc-2 (layer2): shutdown'],
    ]);
    w.flush();
    expect(lines).toHaveLength(3);
  });

  it(`logs up to ${WITHDRAWALS_LOGGED_EACH} one line each, more in one line with the counts per protocol and reason and three examples`, () => {
    const { lines, log } = logged();
    const w = new WithdrawalLog(log);
    for (let i = 0; i < WITHDRAWALS_LOGGED_EACH; i++) w.add(withdrawn(i));
    w.flush();
    expect(lines).toHaveLength(WITHDRAWALS_LOGGED_EACH);
    lines.length = 0;
    for (let i = 0; i < 100_000; i++) w.add(withdrawn(i, i % 4 === 0 ? 'bgp' : 'layer2', i % 2 === 0 ? 'shutdown' : 'fenced'));
    w.flush();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({
      event: 'servicesWithdrawn',
      service: 'ns/svc-0,ns/svc-1,ns/svc-2',
      reason: 'bgp: shutdown 25000, layer2: fenced 50000, layer2: shutdown 25000',
      msg: 'withdrew 100000 announcements (bgp: shutdown 25000, layer2: fenced 50000, layer2: shutdown 25000), e.g. ns/svc-0, ns/svc-1, ns/svc-2',
    });
    // A new run starts afresh.
    w.add(withdrawn(7));
    w.flush();
    expect(lines.slice(1).map((l) => l.event)).toEqual(['serviceWithdrawn']);
  });

  it('remembers when the oldest withdrawal waiting came', () => {
    const { log } = logged();
    const w = new WithdrawalLog(log);
    expect(w.since).toBeNaN();
    w.add(withdrawn(1), 100);
    w.add(withdrawn(2), 200);
    expect(w.since).toBe(100);
    w.flush();
    expect(w.since).toBeNaN();
  });
});

describe('withdrawInTurns', () => {
  it('withdraws every balancer in batches of perTurn with a pause between them, the last batch without one', async () => {
    const { tracker: t, announcer } = tracker(1234);
    const batches: number[] = [];
    let inBatch = 0;
    await withdrawInTurns(t, 'shutdown', () => inBatch++, async () => {
      batches.push(inBatch);
      inBatch = 0;
    }, 500);
    batches.push(inBatch);
    expect(batches).toEqual([500, 500, 234]);
    expect(t.size).toBe(0);
    expect(announcer.announced().size).toBe(0);
  });

  it('withdraws the balancers announced during a pause too', async () => {
    const { tracker: t } = tracker(3);
    let added = false;
    const seen: string[] = [];
    await withdrawInTurns(t, 'shutdown', (c) => seen.push(c.service), async () => {
      if (added) return;
      added = true;
      t.sync({ key: 'ns/late', ips: ['192.0.2.99'], pool: 'l2', externalTrafficPolicy: 'Cluster' }, pool, { readyByNode: new Map([['a', 1]]) });
    }, 2);
    expect(seen).toEqual(['ns/svc-0', 'ns/svc-1', 'ns/svc-2', 'ns/late']);
    expect(t.size).toBe(0);
  });

  it('does not pause when nothing is announced', async () => {
    const { tracker: t } = tracker(0);
    let pauses = 0;
    await withdrawInTurns(t, 'shutdown', () => undefined, async () => void pauses++);
    expect(pauses).toBe(0);
  });
});
