import { describe, expect, it } from 'vitest';
import type { AddressPool } from '../../../config/model.js';
import { RecordingAnnouncer, type AnnounceReason } from '../../../speaker/announcer.js';
import { AnnouncementTracker } from '../../../speaker/announcement-tracker.js';
import type { EndpointsView, ServiceView } from '../../../speaker/service-view.js';

const pool: AddressPool = { name: 'l2', protocol: 'layer2', addresses: [], avoidBuggyIps: false, autoAssign: true, bgpAdvertisements: [] };
const eps: EndpointsView = { readyByNode: new Map([['node-a', 1]]) };
const web: ServiceView = { key: 'ns/web', ips: ['192.0.2.10'], pool: 'l2', externalTrafficPolicy: 'Cluster' };

function setup() {
  let decision: AnnounceReason | null = null;
  const announcer = new RecordingAnnouncer('layer2', { decide: () => decision });
  const tracker = new AnnouncementTracker(announcer);
  const protocolCalls = () => announcer.calls.filter((c) => c.op === 'setBalancer' || c.op === 'deleteBalancer');
  return { announcer, tracker, protocolCalls, set: (d: AnnounceReason | null) => (decision = d) };
}

describe('AnnouncementTracker', () => {
  it('reports assignment once, not on every resync', () => {
    const { tracker, protocolCalls } = setup();
    expect(tracker.sync(web, pool, eps)).toEqual({ kind: 'assigned', service: 'ns/web', protocol: 'layer2', ips: ['192.0.2.10'], pool: 'l2' });
    for (let i = 0; i < 5; i++) expect(tracker.sync(web, pool, eps)).toBeNull();
    expect(protocolCalls()).toHaveLength(1);
    expect(tracker.announced()).toEqual(['ns/web']);
    expect(tracker.size).toBe(1);
    expect([...tracker.entries()]).toEqual([['ns/web', { ips: ['192.0.2.10'], pool: 'l2' }]]);
  });

  it('announcedIps: Service -> IPs announced now, read live (herald_speaker_announced reads the tracker, no map of its own)', () => {
    const { tracker } = setup();
    expect([...tracker.announcedIps.entries()]).toEqual([]);
    tracker.sync(web, pool, eps);
    tracker.sync({ ...web, key: 'ns/api', ips: ['2001:db8::5'] }, pool, eps);
    expect([...tracker.announcedIps.entries()]).toEqual([['ns/web', ['192.0.2.10']], ['ns/api', ['2001:db8::5']]]);
    expect(tracker.announcedIps.size).toBe(2);
    tracker.remove('ns/web', 'serviceDeleted');
    expect([...tracker.announcedIps.entries()]).toEqual([['ns/api', ['2001:db8::5']]]);
    expect(tracker.announcedIps.size).toBe(1);
  });

  it('forgetAll: every Service withdrawn without a protocol call (the announcer was shut down as a whole)', () => {
    const { tracker, protocolCalls } = setup();
    tracker.sync(web, pool, eps);
    expect(tracker.forgetAll('shutdown')).toEqual([{ kind: 'withdrawn', service: 'ns/web', protocol: 'layer2', ips: ['192.0.2.10'], reason: 'shutdown' }]);
    expect(protocolCalls()).toHaveLength(1);
    expect(tracker.size).toBe(0);
    expect(tracker.forgetAll('shutdown')).toEqual([]);
  });

  it('reports an IP change as an update', () => {
    const { tracker } = setup();
    tracker.sync(web, pool, eps);
    const change = tracker.sync({ ...web, ips: ['192.0.2.10', '2001:db8::10'] }, pool, eps);
    expect(change).toEqual({ kind: 'updated', service: 'ns/web', protocol: 'layer2', ips: ['192.0.2.10', '2001:db8::10'], pool: 'l2', previousIps: ['192.0.2.10'] });
  });

  it('withdraws with the decision reason once, and not when never announced', () => {
    const { tracker, set, protocolCalls, announcer } = setup();
    set('notOwner');
    expect(tracker.sync(web, pool, eps)).toBeNull();
    set(null);
    tracker.sync(web, pool, eps);
    set('fenced');
    expect(tracker.sync(web, pool, eps)).toEqual({ kind: 'withdrawn', service: 'ns/web', protocol: 'layer2', ips: ['192.0.2.10'], reason: 'fenced' });
    expect(tracker.sync(web, pool, eps)).toBeNull();
    expect(protocolCalls().map((c) => c.op)).toEqual(['setBalancer', 'deleteBalancer']);
    expect(announcer.isAnnounced('ns/web')).toBe(false);
  });

  it('removes deleted Services, retains by key set, and withdraws everything on shutdown', () => {
    const { tracker } = setup();
    for (const key of ['ns/a', 'ns/b', 'ns/c']) tracker.sync({ ...web, key }, pool, eps);
    expect(tracker.remove('ns/a', 'serviceDeleted')).toMatchObject({ kind: 'withdrawn', reason: 'serviceDeleted' });
    expect(tracker.remove('ns/a', 'serviceDeleted')).toBeNull();
    expect(tracker.retain(new Set(['ns/c'])).map((c) => c.service)).toEqual(['ns/b']);
    expect(tracker.removeAll('shutdown')).toEqual([{ kind: 'withdrawn', service: 'ns/c', protocol: 'layer2', ips: ['192.0.2.10'], reason: 'shutdown' }]);
    expect(tracker.announced()).toEqual([]);
  });
});
