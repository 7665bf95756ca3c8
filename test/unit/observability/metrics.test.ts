import { describe, expect, it } from 'vitest';
import { ControllerMetrics } from '../../../controller/metrics.js';
import { startMetricsServer } from '../../../kube/metrics-server.js';
import { SpeakerMetrics } from '../../../speaker/metrics.js';

/** `# TYPE name type` lines of an exposition. */
function types(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) out.set(m[1], m[2]);
  return out;
}

function series(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

describe('metric definitions', () => {
  it('the controller exposes the issue\'s controller and shared metrics', async () => {
    const m = new ControllerMetrics({ processMetrics: false });
    const t = types(await m.registry.metrics());
    expect(Object.fromEntries(t)).toEqual({
      herald_config_loaded: 'gauge',
      herald_config_stale: 'gauge',
      herald_config_generation: 'gauge',
      herald_k8s_updates_total: 'counter',
      herald_k8s_update_errors_total: 'counter',
      herald_lease_renew_failures_total: 'counter',
      herald_k8s_api_errors_total: 'counter',
      herald_k8s_api_throttled_total: 'counter',
      herald_watch_last_event_seconds: 'gauge',
      herald_watch_resumed_early_total: 'counter',
      herald_allocator_addresses_total: 'gauge',
      herald_allocator_addresses_in_use_total: 'gauge',
      herald_leader: 'gauge',
    });
  });

  it('the speaker exposes the issue\'s speaker and shared metrics', async () => {
    const m = new SpeakerMetrics({ node: 'node-a', processMetrics: false });
    const t = types(await m.registry.metrics());
    expect(Object.fromEntries(t)).toEqual({
      herald_config_loaded: 'gauge',
      herald_config_stale: 'gauge',
      herald_config_generation: 'gauge',
      herald_k8s_updates_total: 'counter',
      herald_k8s_update_errors_total: 'counter',
      herald_lease_renew_failures_total: 'counter',
      herald_k8s_api_errors_total: 'counter',
      herald_k8s_api_throttled_total: 'counter',
      herald_watch_last_event_seconds: 'gauge',
      herald_watch_resumed_early_total: 'counter',
      herald_speaker_announced: 'gauge',
      herald_bgp_session_up: 'gauge',
      herald_bgp_updates_total: 'counter',
      herald_bgp_announced_prefixes: 'gauge',
      herald_bgp_peer_asn: 'gauge',
      herald_bgp_sockets_open: 'gauge',
      herald_bgp_queued_bytes: 'gauge',
      herald_bgp_connections_refused_total: 'counter',
      herald_bgp_connections_destroyed_total: 'counter',
      herald_bgp_sessions_out_of_resources_total: 'counter',
      herald_bfd_session_up: 'gauge',
      herald_bfd_session_transitions_total: 'counter',
      herald_bfd_last_detection_seconds: 'gauge',
      herald_layer2_requests_received_total: 'counter',
      herald_layer2_responses_sent_total: 'counter',
      herald_layer2_gratuitous_sent_total: 'counter',
      herald_layer2_address_conflicts_total: 'counter',
      herald_liveness_dropped_total: 'counter',
      herald_layer2_frames_dropped_total: 'counter',
      herald_layer2_claims_gated: 'gauge',
      herald_layer2_claims_gated_seconds_total: 'counter',
    });
  });

  it('process metrics are on by default, in separate registries per daemon', async () => {
    const a = new SpeakerMetrics({ node: 'n' });
    const b = new ControllerMetrics();
    expect(await a.registry.metrics()).toMatch(/^process_resident_memory_bytes /m);
    expect(await b.registry.metrics()).toMatch(/^process_resident_memory_bytes /m);
  });
});

describe('shared metrics', () => {
  it('herald_config_generation: one series, labelled with the hash of the config in force, counting accepts', async () => {
    const m = new ControllerMetrics({ processMetrics: false });
    expect(series(await m.registry.metrics(), 'herald_config_generation')).toEqual([]);
    m.configAccepted('0123456789ab');
    m.configAccepted('ba9876543210');
    expect(series(await m.registry.metrics(), 'herald_config_generation')).toEqual(['herald_config_generation{hash="ba9876543210"} 2']);
    expect(series(await m.registry.metrics(), 'herald_config_loaded')).toEqual(['herald_config_loaded 1']);
  });

  it('config loaded / stale follow apply and refuse', async () => {
    const m = new ControllerMetrics({ processMetrics: false });
    const read = async () => {
      const text = await m.registry.metrics();
      return [series(text, 'herald_config_loaded')[0], series(text, 'herald_config_stale')[0]];
    };
    expect(await read()).toEqual(['herald_config_loaded 0', 'herald_config_stale 0']);
    m.configApplied();
    expect(await read()).toEqual(['herald_config_loaded 1', 'herald_config_stale 0']);
    m.configRefused();
    expect(await read()).toEqual(['herald_config_loaded 1', 'herald_config_stale 1']);
    m.configApplied();
    expect(await read()).toEqual(['herald_config_loaded 1', 'herald_config_stale 0']);
  });
});

describe('controller metrics', () => {
  it('pool series are set, and removed with their pool', async () => {
    const m = new ControllerMetrics({ processMetrics: false });
    m.setPool('a', 256, 3);
    m.setPool('b', 2n ** 64n, 0n);
    m.setLeader(true);
    let text = await m.registry.metrics();
    expect(series(text, 'herald_allocator_addresses_total')).toEqual(['herald_allocator_addresses_total{pool="a"} 256', 'herald_allocator_addresses_total{pool="b"} 18446744073709552000']);
    expect(series(text, 'herald_allocator_addresses_in_use_total')).toContain('herald_allocator_addresses_in_use_total{pool="a"} 3');
    expect(series(text, 'herald_leader')).toEqual(['herald_leader 1']);
    m.retainPools(['b']);
    text = await m.registry.metrics();
    expect(text).not.toContain('pool="a"');
    expect(series(text, 'herald_allocator_addresses_in_use_total')).toEqual(['herald_allocator_addresses_in_use_total{pool="b"} 0']);
  });
});

describe('speaker metrics', () => {
  it('announced series follow setAnnounced and disappear with the Service', async () => {
    const m = new SpeakerMetrics({ node: 'node-a', processMetrics: false });
    m.setAnnounced('ns/web', 'layer2', ['192.0.2.10', '2001:db8::10']);
    m.setAnnounced('ns/api', 'bgp', ['203.0.113.5']);
    let text = await m.registry.metrics();
    expect(series(text, 'herald_speaker_announced').sort()).toEqual([
      'herald_speaker_announced{service="ns/api",protocol="bgp",node="node-a",ip="203.0.113.5"} 1',
      'herald_speaker_announced{service="ns/web",protocol="layer2",node="node-a",ip="192.0.2.10"} 1',
      'herald_speaker_announced{service="ns/web",protocol="layer2",node="node-a",ip="2001:db8::10"} 1',
    ]);
    m.setAnnounced('ns/web', 'layer2', ['192.0.2.10']);
    text = await m.registry.metrics();
    expect(text).not.toContain('2001:db8::10');
    m.removeService('ns/web');
    m.setAnnounced('ns/api', 'bgp', []);
    text = await m.registry.metrics();
    expect(series(text, 'herald_speaker_announced')).toEqual([]);
  });

  it('a Service switching protocol has both series until the old protocol withdraws; removeService drops every protocol', async () => {
    const m = new SpeakerMetrics({ node: 'node-a', processMetrics: false });
    m.setAnnounced('ns/web', 'bgp', ['192.0.2.10']);
    m.setAnnounced('ns/web', 'layer2', ['192.0.2.10']);
    let text = await m.registry.metrics();
    expect(series(text, 'herald_speaker_announced').sort()).toEqual([
      'herald_speaker_announced{service="ns/web",protocol="bgp",node="node-a",ip="192.0.2.10"} 1',
      'herald_speaker_announced{service="ns/web",protocol="layer2",node="node-a",ip="192.0.2.10"} 1',
    ]);
    m.withdrawn('ns/web', 'bgp');
    text = await m.registry.metrics();
    expect(series(text, 'herald_speaker_announced')).toEqual(['herald_speaker_announced{service="ns/web",protocol="layer2",node="node-a",ip="192.0.2.10"} 1']);
    m.setAnnounced('ns/web', 'bgp', ['192.0.2.10']);
    m.removeService('ns/web');
    expect(series(await m.registry.metrics(), 'herald_speaker_announced')).toEqual([]);
  });

  it('read from the announcement trackers (readAnnouncedFrom): series follow them; the previous IPs passed in drop layer2 counters nobody announces', async () => {
    const m = new SpeakerMetrics({ node: 'node-a', processMetrics: false });
    const layer2 = new Map<string, readonly string[]>();
    const bgp = new Map<string, readonly string[]>();
    m.readAnnouncedFrom({ layer2, bgp });
    const announce = (service: string, ips: readonly string[]): void => {
      const before = layer2.get(service);
      layer2.set(service, ips);
      m.setAnnounced(service, 'layer2', ips, before);
    };
    announce('ns/a', ['192.0.2.10', '2001:db8::10']);
    announce('ns/b', ['192.0.2.10']);
    bgp.set('ns/c', ['203.0.113.5']);
    m.countLayer2Request('192.0.2.10');
    m.countLayer2Request('2001:db8::10');
    let text = await m.registry.metrics();
    expect(series(text, 'herald_speaker_announced').sort()).toEqual([
      'herald_speaker_announced{service="ns/a",protocol="layer2",node="node-a",ip="192.0.2.10"} 1',
      'herald_speaker_announced{service="ns/a",protocol="layer2",node="node-a",ip="2001:db8::10"} 1',
      'herald_speaker_announced{service="ns/b",protocol="layer2",node="node-a",ip="192.0.2.10"} 1',
      'herald_speaker_announced{service="ns/c",protocol="bgp",node="node-a",ip="203.0.113.5"} 1',
    ]);
    announce('ns/a', ['192.0.2.10']); // lets go of 2001:db8::10: nobody announces it
    text = await m.registry.metrics();
    expect(series(text, 'herald_layer2_requests_received_total')).toEqual(['herald_layer2_requests_received_total{ip="192.0.2.10"} 1']);
    const was = layer2.get('ns/a');
    layer2.delete('ns/a');
    m.withdrawn('ns/a', 'layer2', was); // ns/b still announces 192.0.2.10
    expect(series(await m.registry.metrics(), 'herald_layer2_requests_received_total')).toEqual(['herald_layer2_requests_received_total{ip="192.0.2.10"} 1']);
    layer2.delete('ns/b');
    m.withdrawn('ns/b', 'layer2', ['192.0.2.10']);
    bgp.delete('ns/c');
    text = await m.registry.metrics();
    expect(series(text, 'herald_speaker_announced')).toEqual([]);
    expect(text).not.toContain('192.0.2.10');
  });

  it('layer2 counters of a VIP go when no Service announces it any more (shared VIPs kept)', async () => {
    const m = new SpeakerMetrics({ node: 'node-a', processMetrics: false });
    m.setAnnounced('ns/a', 'layer2', ['192.0.2.10']);
    m.setAnnounced('ns/b', 'layer2', ['192.0.2.10']);
    m.countLayer2Request('192.0.2.10');
    m.countLayer2Request('192.0.2.10');
    m.countLayer2Response('192.0.2.10');
    m.countLayer2Gratuitous('192.0.2.10', 3);
    let text = await m.registry.metrics();
    expect(series(text, 'herald_layer2_requests_received_total')).toEqual(['herald_layer2_requests_received_total{ip="192.0.2.10"} 2']);
    expect(series(text, 'herald_layer2_gratuitous_sent_total')).toEqual(['herald_layer2_gratuitous_sent_total{ip="192.0.2.10"} 3']);
    m.removeService('ns/a');
    text = await m.registry.metrics();
    expect(series(text, 'herald_layer2_responses_sent_total')).toEqual(['herald_layer2_responses_sent_total{ip="192.0.2.10"} 1']);
    m.withdrawn('ns/b', 'layer2');
    text = await m.registry.metrics();
    expect(text).not.toContain('192.0.2.10');
  });

  it('a shared VIP counts each Service once: re-announcing, moving a Service off it or onto bgp keeps the others\' count', async () => {
    const m = new SpeakerMetrics({ node: 'node-a', processMetrics: false });
    const counted = async (): Promise<string[]> => series(await m.registry.metrics(), 'herald_layer2_requests_received_total');
    m.setAnnounced('ns/a', 'layer2', ['192.0.2.10']);
    m.setAnnounced('ns/a', 'layer2', ['192.0.2.10']); // a resync: the same Service, counted once
    m.setAnnounced('ns/b', 'layer2', ['192.0.2.10', '2001:db8::10']);
    m.countLayer2Request('192.0.2.10');
    m.withdrawn('ns/a', 'layer2');
    expect(await counted()).toEqual(['herald_layer2_requests_received_total{ip="192.0.2.10"} 1']);
    m.setAnnounced('ns/b', 'layer2', ['2001:db8::10']); // b lets go of it: nobody announces it
    expect(await counted()).toEqual([]);
    m.setAnnounced('ns/c', 'bgp', ['192.0.2.10']);
    m.setAnnounced('ns/d', 'layer2', ['192.0.2.10']);
    m.countLayer2Request('192.0.2.10');
    m.withdrawn('ns/c', 'bgp'); // bgp never counted it
    expect(await counted()).toEqual(['herald_layer2_requests_received_total{ip="192.0.2.10"} 1']);
    m.removeService('ns/d');
    expect(await counted()).toEqual([]);
  });

  it('peer series are set, and removed with their peer', async () => {
    const m = new SpeakerMetrics({ node: 'node-a', processMetrics: false });
    m.setSessionUp('198.51.100.1', true);
    m.setSessionUp('198.51.100.2', false);
    m.updateSent('198.51.100.1', 5);
    m.setAnnouncedPrefixes('198.51.100.1', 12);
    let text = await m.registry.metrics();
    expect(series(text, 'herald_bgp_session_up')).toEqual(['herald_bgp_session_up{peer="198.51.100.1"} 1', 'herald_bgp_session_up{peer="198.51.100.2"} 0']);
    expect(series(text, 'herald_bgp_updates_total')).toEqual(['herald_bgp_updates_total{peer="198.51.100.1"} 5']);
    expect(series(text, 'herald_bgp_announced_prefixes')).toEqual(['herald_bgp_announced_prefixes{peer="198.51.100.1"} 12']);
    m.retainPeers(['198.51.100.2']);
    text = await m.registry.metrics();
    expect(text).not.toContain('198.51.100.1');
    m.removePeer('198.51.100.2');
    expect(await m.registry.metrics()).not.toContain('peer=');
  });

  it('is scraped over HTTP from the metrics server', async () => {
    const m = new SpeakerMetrics({ node: 'node-a', processMetrics: false });
    m.setAnnounced('ns/web', 'layer2', ['192.0.2.10']);
    m.leaseRenewFailures.inc();
    const server = await startMetricsServer({ address: '127.0.0.1:0', registry: m.registry });
    try {
      const text = await (await fetch(`${server.url}/metrics`)).text();
      expect(text).toContain('herald_speaker_announced{service="ns/web",protocol="layer2",node="node-a",ip="192.0.2.10"} 1');
      expect(text).toMatch(/^herald_lease_renew_failures_total 1$/m);
    } finally {
      await server.close();
    }
  });
});
