import { describe, expect, it } from 'vitest';
import type { AddressPool, Config } from '../../../config/model.js';
import { RecordingAnnouncer, type Announcer, type AnnouncerCall } from '../../../speaker/announcer.js';
import { layer2Decision } from '../../../speaker/layer2-owner.js';
import type { EndpointsView, ServiceView } from '../../../speaker/service-view.js';

const l2pool: AddressPool = { name: 'l2', protocol: 'layer2', addresses: [], avoidBuggyIps: false, autoAssign: true, bgpAdvertisements: [] };
const config: Config = { peers: [], bgpCommunities: {}, pools: [l2pool], bfdProfiles: [] };
const service: ServiceView = { key: 'ns/web', ips: ['192.0.2.10'], pool: 'l2', externalTrafficPolicy: 'Cluster' };
const endpoints: EndpointsView = { readyByNode: new Map([['node-a', 1]]) };

/** The speaker's loop in miniature: what the daemon will do for each Service. */
function sync(announcer: Announcer, svc: ServiceView, pool: AddressPool, eps: EndpointsView): void {
  const reason = announcer.shouldAnnounce(svc, svc.ips, pool, eps);
  if (reason === null) announcer.setBalancer(svc.key, svc.ips, pool);
  else announcer.deleteBalancer(svc.key, reason);
}

describe('RecordingAnnouncer', () => {
  it('records every call in order and tracks what is announced', () => {
    const seen: AnnouncerCall[] = [];
    const a = new RecordingAnnouncer('layer2', { onCall: (c) => seen.push(c) });
    a.setConfig(config);
    sync(a, service, l2pool, endpoints);
    expect(a.isAnnounced('ns/web')).toBe(true);
    expect(a.announced().get('ns/web')).toEqual({ ips: ['192.0.2.10'], pool: 'l2' });
    a.deleteBalancer('ns/web', 'serviceDeleted');
    expect(a.isAnnounced('ns/web')).toBe(false);
    expect(a.currentConfig()).toBe(config);
    expect(a.calls.map((c) => c.op)).toEqual(['setConfig', 'shouldAnnounce', 'setBalancer', 'deleteBalancer']);
    expect(a.calls[3]).toEqual({ op: 'deleteBalancer', name: 'ns/web', reason: 'serviceDeleted' });
    expect(seen).toEqual(a.calls);
  });

  it('by default refuses pools of the other protocol and Services without IPs', () => {
    const a = new RecordingAnnouncer('bgp');
    expect(a.shouldAnnounce(service, service.ips, l2pool, endpoints)).toBe('protocolMismatch');
    expect(a.shouldAnnounce({ ...service, ips: [] }, [], { ...l2pool, protocol: 'bgp' }, endpoints)).toBe('noIPs');
  });

  it('records the decisions of a real decision function (layer2 owner) per speaker', () => {
    const live = ['node-a', 'node-b', 'node-c', 'node-d'];
    const announcers = live.map(
      (self) =>
        new RecordingAnnouncer('layer2', {
          decide: (svc, _ips, _pool, eps) => layer2Decision(svc, eps, { self, liveSpeakers: live, nodeSelected: () => true, fenced: false }),
        }),
    );
    for (const a of announcers) sync(a, service, l2pool, endpoints);
    const owners = live.filter((_, i) => announcers[i].isAnnounced('ns/web'));
    expect(owners).toEqual(['node-d']);
    const reasons = announcers.map((a) => a.calls.find((c) => c.op === 'deleteBalancer'));
    expect(reasons.filter(Boolean).map((c) => c && c.op === 'deleteBalancer' && c.reason)).toEqual(['notOwner', 'notOwner', 'notOwner']);
  });
});
