// BFD for BGP peers (speaker/bfd-peers.ts through the BGP announcer): a peer with a bfd-profile
// gets a BFD session with the profile's timers; BFD going Down after Up drops the BGP session at
// once without NOTIFICATION and holds it down until BFD is Up again; a BFD session that never came
// up, or that the router disabled (AdminDown), holds nothing; profile changes retime BFD without a
// BGP reset. The router's side is a real BfdSession; packets cross an in-memory link (1 ms delay)
// that the test cuts, all on a ManualClock.
import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../config/parse.js';
import { createLogger } from '../../../kube/log.js';
import { decode } from '../../../protocols/bfd/packet.js';
import { BfdSession } from '../../../protocols/bfd/session.js';
import type { BfdEndpointOptions, BfdPeer } from '../../../protocols/bfd/transport.js';
import { ManualClock } from '../../../protocols/clock.js';
import { BgpAnnouncer } from '../../../speaker/bgp-announcer.js';
import { bgpDecision } from '../../../speaker/bgp-advertisements.js';
import type { BfdEndpointLike } from '../../../speaker/bfd-peers.js';
import { SpeakerMetrics } from '../../../speaker/metrics.js';
import { FakeSocket, routerOpen } from '../bgp/fake-socket.js';

const PEER = '192.0.2.1';

function config(opts: { profile?: string; interval?: number; multihop?: boolean; sourceAddress?: string } = {}): string {
  const profile = opts.profile === undefined ? 'fast' : opts.profile;
  return `
bfd-profiles:
- name: fast
  receive-interval: ${opts.interval ?? 300}
  transmit-interval: ${opts.interval ?? 300}
  detect-multiplier: 3
  minimum-ttl: 250
peers:
- peer-address: ${PEER}
  peer-asn: 65001
  my-asn: 64512
  hold-time: 90s
${profile ? `  bfd-profile: ${profile}\n` : ''}${opts.multihop ? '  ebgp-multihop: true\n' : ''}${opts.sourceAddress ? `  source-address: ${opts.sourceAddress}\n` : ''}address-pools:
- name: b
  protocol: bgp
  addresses: [203.0.113.0/24]
`;
}

/** The router's BFD: a real session per peer the speaker adds, across a link the test can cut. */
class Link {
  up = true;
  /** The router runs BFD for the peer (false: it never answers, as a router without BFD configured). */
  routerBfd = true;
  readonly opened: BfdEndpointOptions[] = [];
  readonly peers: BfdPeer[] = [];
  routers: BfdSession[] = [];
  closedWithAdminDown: boolean[] = [];
  private discr = 1;

  constructor(private readonly clock: ManualClock) {}

  /** Delivers a copy 1 ms later (a synchronous delivery would re-enter the sender). */
  private deliver(to: () => BfdSession | undefined, buf: Buffer, length: number): void {
    if (!this.up) return;
    const copy = Buffer.from(buf.subarray(0, length));
    this.clock.setTimeout(() => {
      if (this.up) to()?.receive(decode(copy, 0));
    }, 1);
  }

  open = (opts: BfdEndpointOptions): BfdEndpointLike => {
    this.opened.push(opts);
    const sessions = new Map<string, { ours: BfdSession; router: BfdSession }>();
    return {
      addPeer: (peer: BfdPeer) => {
        this.peers.push(peer);
        const pair: { ours?: BfdSession; router?: BfdSession } = {};
        const ours = new BfdSession({ ...peer, localDiscriminator: this.discr++ }, {
          clock: this.clock,
          send: (b, n) => this.routerBfd && this.deliver(() => pair.router, b, n),
          onStateChange: (c) => opts.onStateChange?.(peer, c),
          random: () => 0.5,
        });
        const router = new BfdSession({ localDiscriminator: this.discr++, transmitIntervalMs: 300, receiveIntervalMs: 300, detectMultiplier: 3 }, {
          clock: this.clock,
          send: (b, n) => this.routerBfd && this.deliver(() => pair.ours, b, n),
          random: () => 0.5,
        });
        Object.assign(pair, { ours, router });
        sessions.set(peer.peerAddress, { ours, router });
        this.routers.push(router);
        ours.start();
        router.start();
        return ours;
      },
      removePeer: (address: string, _local?: string, adminDown = false) => {
        const p = sessions.get(address);
        if (!p) return false;
        if (adminDown) p.ours.adminDown();
        p.ours.stop();
        sessions.delete(address);
        return true;
      },
      close: (adminDown = false) => {
        this.closedWithAdminDown.push(adminDown);
        for (const p of sessions.values()) {
          if (adminDown) p.ours.adminDown();
          p.ours.stop();
        }
      },
    };
  };
}

function setup() {
  const clock = new ManualClock();
  const metrics = new SpeakerMetrics({ node: 'n1', processMetrics: false });
  const link = new Link(clock);
  const sockets: FakeSocket[] = [];
  const lines: Array<Record<string, unknown>> = [];
  const log = createLogger({ component: 'bgp', level: 'info', destination: { write: (l: string) => lines.push(JSON.parse(l) as Record<string, unknown>) } });
  const announcer = new BgpAnnouncer({
    decide: (service, _ips, _pool, endpoints) => bgpDecision(service, endpoints, 'n1'),
    node: 'n1',
    clock,
    metrics,
    log,
    openBfdEndpoint: link.open,
    connect: (peer) => {
      const s = new FakeSocket('192.0.2.10', peer.peerAddress);
      sockets.push(s);
      return s;
    },
    // A reconnect after the hold is released comes at once, not after a back-off.
    sessionLimits: { connectRetry: { minMs: 100, maxMs: 100 } },
  });
  const last = (): FakeSocket => sockets[sockets.length - 1];
  const establish = (): void => {
    const s = last();
    s.connect();
    s.take();
    s.receive(routerOpen());
    s.receive({ type: 'keepalive' });
    s.take();
  };
  const metric = async (name: 'bfdSessionUp' | 'bgpSessionUp' | 'bfdDetection'): Promise<number | undefined> => (await metrics[name].get()).values.find((v) => v.labels.peer === PEER)?.value;
  const transitions = async (to: string): Promise<number> => (await metrics.bfdTransitions.get()).values.find((v) => v.labels.peer === PEER && v.labels.to === to)?.value ?? 0;
  return { clock, link, sockets, announcer, last, establish, metric, transitions, lines };
}

describe('BFD for BGP peers', () => {
  it('BFD Down after Up drops the BGP session at once (no NOTIFICATION) and holds it down; BFD Up again lets it reconnect', async () => {
    const t = setup();
    t.announcer.start();
    t.announcer.setConfig(parseConfig(config()));
    expect(t.link.opened).toHaveLength(1);
    expect(t.link.opened[0]).toMatchObject({ family: 4, multihop: false });
    expect(t.link.peers[0]).toMatchObject({ peerAddress: PEER, transmitIntervalMs: 300, receiveIntervalMs: 300, detectMultiplier: 3 });
    t.establish();
    t.clock.advance(3000);
    expect(t.announcer.bfd.state(`${PEER}:179`)).toBe('Up');
    expect(await t.metric('bfdSessionUp')).toBe(1);
    expect(await t.metric('bgpSessionUp')).toBe(1);

    // The link dies: BFD declares Down within its Detection Time (3 x 300 ms) and the BGP socket goes with it.
    const bgp = t.last();
    bgp.take();
    t.link.up = false;
    const cut = t.clock.now();
    let downAt = 0;
    while (!bgp.closed && t.clock.now() - cut < 5000) {
      t.clock.advance(10);
      downAt = t.clock.now();
    }
    expect(bgp.closed).toBe(true);
    expect(downAt - cut).toBeLessThanOrEqual(900 + 20);
    expect(bgp.destroyed).toBe(true);
    expect(bgp.take().filter((m) => m.type === 'notification')).toEqual([]);
    expect(await t.metric('bfdSessionUp')).toBe(0);
    expect(await t.metric('bgpSessionUp')).toBe(0);
    expect(await t.transitions('Down')).toBe(1);
    const detection = (await t.metric('bfdDetection'))!;
    expect(detection).toBeGreaterThan(0.6);
    expect(detection).toBeLessThanOrEqual(0.92);
    expect(t.lines.some((l) => l.event === 'bfdState' && l.to === 'Down' && l.diag === 'control-detection-time-expired')).toBe(true);
    expect(t.lines.some((l) => l.event === 'sessionHeldByBfd')).toBe(true);

    // Held: no reconnect while BFD is down, however long.
    const count = t.sockets.length;
    t.clock.advance(30_000);
    expect(t.sockets.length).toBe(count);
    expect(t.announcer.activePeers()).toEqual([]);

    // The link is back: BFD Up, then the BGP session reconnects (with the routes).
    t.link.up = true;
    t.clock.advance(3000);
    expect(t.announcer.bfd.state(`${PEER}:179`)).toBe('Up');
    expect(t.sockets.length).toBe(count + 1);
    expect(t.lines.some((l) => l.event === 'bfdRelease')).toBe(true);
    t.establish();
    expect(await t.metric('bgpSessionUp')).toBe(1);
    expect(await t.transitions('Up')).toBe(2);

    // Held again, then the profile goes: the hold goes with it and BGP reconnects at once.
    t.link.up = false;
    t.clock.advance(2000);
    expect(t.last().closed).toBe(true);
    const held = t.sockets.length;
    t.announcer.setConfig(parseConfig(config({ profile: '' })));
    expect(t.sockets.length).toBe(held + 1);
    t.establish();
    t.link.up = true;

    // Shutdown: Cease on BGP, then AdminDown on BFD.
    const done = t.announcer.shutdown();
    t.clock.advance(5000);
    await done;
    // The endpoint closed with AdminDown when the last BFD peer went.
    expect(t.link.closedWithAdminDown).toEqual([true]);
  });

  it('a BFD session that never came up holds nothing: BGP runs as without BFD', () => {
    const t = setup();
    t.link.routerBfd = false;
    t.announcer.start();
    t.announcer.setConfig(parseConfig(config()));
    t.establish();
    t.clock.advance(30_000);
    expect(t.announcer.bfd.state(`${PEER}:179`)).toBe('Down');
    expect(t.sockets).toHaveLength(1);
    expect(t.last().closed).toBe(false);
  });

  it('the router disabling BFD (AdminDown) holds nothing (RFC 5882 §3.2)', () => {
    const t = setup();
    t.announcer.start();
    t.announcer.setConfig(parseConfig(config()));
    t.establish();
    t.clock.advance(3000);
    t.link.routers[0].adminDown();
    t.clock.advance(5000);
    expect(t.announcer.bfd.state(`${PEER}:179`)).toBe('Down');
    expect(t.last().closed).toBe(false);
    expect(t.lines.some((l) => l.event === 'bfdState' && /AdminDown/.test(String(l.msg)))).toBe(true);
  });

  it('profile changes retime BFD without a BGP reset; removing the profile stops BFD, not BGP; multihop peers use the multihop endpoint', () => {
    const t = setup();
    t.announcer.start();
    t.announcer.setConfig(parseConfig(config()));
    t.establish();
    t.clock.advance(3000);
    const session = t.link.routers[0];
    t.announcer.setConfig(parseConfig(config({ interval: 100 })));
    t.clock.advance(3000);
    expect(t.sockets).toHaveLength(1);
    expect(t.announcer.bfd.state(`${PEER}:179`)).toBe('Up');
    // The same BFD session, retimed in place (a poll sequence), and still Up at the router.
    expect(t.link.peers).toHaveLength(1);
    expect(session.state).toBe('Up');
    expect(t.lines.find((l) => l.event === 'bfdRetimed')).toMatchObject({ transmitMs: 100, receiveMs: 100 });

    t.announcer.setConfig(parseConfig(config({ profile: '' })));
    expect(t.announcer.bfd.state(`${PEER}:179`)).toBeUndefined();
    expect(t.sockets).toHaveLength(1);
    expect(t.last().closed).toBe(false);

    // ebgp-multihop and a source address: a new BGP session (its transport changed), BFD multihop
    // (RFC 5883) with the profile's minimum TTL, from the BGP session's source address.
    t.announcer.setConfig(parseConfig(config({ multihop: true, sourceAddress: '192.0.2.10' })));
    expect(t.link.opened.at(-1)).toMatchObject({ family: 4, multihop: true, minTtl: 250 });
    expect(t.link.peers.at(-1)).toMatchObject({ peerAddress: PEER, localAddress: '192.0.2.10' });
  });
});
