// The speaker with a dynamic-asn peer: the learned AS is exported (herald_bgp_peer_asn) and logged,
// extended messages are offered to every peer, and a mismatching AS gets NOTIFICATION 2/2.
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../config/parse.js';
import { createLogger } from '../../../kube/log.js';
import { ManualClock } from '../../../protocols/clock.js';
import type { BgpMessage, OpenMessage } from '../../../protocols/bgp/index.js';
import { BgpAnnouncer } from '../../../speaker/bgp-announcer.js';
import { bgpDecision } from '../../../speaker/bgp-advertisements.js';
import { SpeakerMetrics } from '../../../speaker/metrics.js';
import { FakeSocket, routerOpen } from '../bgp/fake-socket.js';

function setup(mode: 'internal' | 'external') {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString().split('\n')) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      done();
    },
  });
  const metrics = new SpeakerMetrics({ node: 'n1', processMetrics: false });
  const sockets: FakeSocket[] = [];
  const announcer = new BgpAnnouncer({
    decide: (service, _ips, _pool, endpoints) => bgpDecision(service, endpoints, 'n1'),
    node: 'n1',
    clock: new ManualClock(),
    metrics,
    log: createLogger({ component: 'bgp', level: 'info', destination: sink }),
    connect: (peer) => {
      const s = new FakeSocket('192.0.2.10', peer.peerAddress);
      sockets.push(s);
      return s;
    },
  });
  announcer.start();
  announcer.setConfig(parseConfig(`peers:\n- {peer-address: 192.0.2.1, dynamic-asn: ${mode}, my-asn: 64512}\n`));
  const s = sockets[0];
  s.connect();
  return { s, lines, metrics };
}

describe('speaker: dynamic-asn peer', () => {
  it('exports and logs the learned AS; offers extended messages', async () => {
    const t = setup('external');
    const [open] = t.s.take() as OpenMessage[];
    expect(open.capabilities).toContainEqual({ kind: 'extended-message' });
    t.s.receive(routerOpen({ as: 4200000001, extra: [{ kind: 'extended-message' }] }));
    t.s.receive({ type: 'keepalive' });
    expect(await t.metrics.registry.getSingleMetricAsString('herald_bgp_peer_asn')).toContain('herald_bgp_peer_asn{peer="192.0.2.1"} 4200000001');
    const line = t.lines.find((l) => l.event === 'sessionEstablished');
    expect(line?.reason).toBe('AS 4200000001 (learned: dynamic-asn external), eBGP, extended messages on, families ipv4+ipv6');
    expect(t.lines.find((l) => l.event === 'peer-as-learned')).toMatchObject({ peer: '192.0.2.1', msg: expect.stringContaining('peer AS 4200000001 learned') });
  });

  it('a peer in our own AS under dynamic-asn external is refused with NOTIFICATION 2/2', () => {
    const t = setup('external');
    t.s.take();
    t.s.receive(routerOpen({ as: 64512 }));
    const n = (t.s.take() as BgpMessage[]).find((m) => m.type === 'notification');
    expect(n).toMatchObject({ code: 2, subcode: 2 });
  });
});
