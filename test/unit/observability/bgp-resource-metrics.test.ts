// The BGP resource counters (protocols/bgp/resources.ts) reach /metrics through SpeakerMetrics,
// read at scrape time: sockets open, queued bytes per peer, refusals by reason, destroys, and
// sessions torn down for resources.
import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { BgpResources } from '../../../protocols/bgp/resources.js';
import { SpeakerMetrics } from '../../../speaker/metrics.js';

describe('BGP resource metrics', () => {
  it('exports the counters and gauges of the shared BgpResources at scrape time', async () => {
    const m = new SpeakerMetrics({ node: 'node-a', processMetrics: false });
    const r = new BgpResources();
    let queued: Array<[string, number]> = [['192.0.2.1', 4096]];
    m.watchBgpResources({ resources: r, queuedBytes: () => queued });
    const a = new EventEmitter();
    const b = new EventEmitter();
    r.track(a);
    r.track(b);
    r.track(a);
    r.refused('not-a-peer');
    r.refused('not-a-peer');
    r.refused('back-off');
    r.destroyed();
    r.outOfResources('192.0.2.1');
    let text = await m.registry.metrics();
    expect(text).toContain('herald_bgp_sockets_open 2');
    expect(text).toContain('herald_bgp_queued_bytes{peer="192.0.2.1"} 4096');
    expect(text).toContain('herald_bgp_connections_refused_total{reason="not-a-peer"} 2');
    expect(text).toContain('herald_bgp_connections_refused_total{reason="back-off"} 1');
    expect(text).toContain('herald_bgp_connections_destroyed_total 1');
    expect(text).toContain('herald_bgp_sessions_out_of_resources_total{peer="192.0.2.1"} 1');
    a.emit('close');
    queued = [];
    text = await m.registry.metrics();
    expect(text).toContain('herald_bgp_sockets_open 1');
    expect(text).not.toContain('herald_bgp_queued_bytes{');
  });
});
