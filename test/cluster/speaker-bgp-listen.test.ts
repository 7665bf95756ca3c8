// `herald speaker --bgp-listen` against the real API server, with the real protocol announcers:
// the test plays a router on 127.0.0.1 that connects to the speaker's listener (the speaker's
// own dial goes to a closed port) and receives the Service's route; a connection from another
// address (127.0.0.2, not a configured peer) is closed and logged; a port in use stops it with the reason. Layer2 serves no interface
// (`--interface` names none that exists) and the config has no layer2 pool: nothing leaves loopback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import net from 'node:net';
import type { KubeConfig } from '@kubernetes/client-node';
import { decode, MessageReader, parseIPv4, toBuffer, type BgpMessage, type UpdateMessage } from '../../protocols/bgp/index.js';
import { freePort } from './cluster.js';
import { freshNamespace, kubeConfig, kubeconfigPath, kubectl } from './harness.js';
import { createServiceWithIps, setEndpoints, SpeakerProcess, speakerConfigYaml } from './speaker-process.js';

const ROUTER_AS = 64512;
const NODE_AS = 64513;
const VIP = '203.0.113.30';

/** A minimal router: connects from `from`, sends OPEN and KEEPALIVEs, collects what the speaker sends. */
class TestRouter {
  readonly messages: BgpMessage[] = [];
  readonly socket: net.Socket;
  closed = false;
  private readonly reader = new MessageReader(4096);

  constructor(port: number, from = '127.0.0.1') {
    this.socket = net.connect({ host: '127.0.0.1', port, localAddress: from });
    this.socket.on('connect', () => {
      const open: BgpMessage = {
        type: 'open',
        version: 4,
        myAs: ROUTER_AS,
        holdTime: 90,
        bgpIdentifier: parseIPv4('192.0.2.1'),
        capabilities: [
          { kind: 'multiprotocol', afi: 1, safi: 1 },
          { kind: 'four-octet-as', asn: ROUTER_AS },
        ],
      };
      this.socket.write(toBuffer(open));
      this.socket.write(toBuffer({ type: 'keepalive' }));
    });
    this.socket.on('data', (d: Buffer) => {
      this.reader.push(d);
      for (let b = this.reader.next(); b; b = this.reader.next()) this.messages.push(decode(b, 0, { fourByteAs: true, maxMessageLength: 4096 }));
    });
    this.socket.on('error', () => undefined);
    this.socket.on('close', () => (this.closed = true));
  }

  nlri(): string[] {
    return this.messages.filter((m): m is UpdateMessage => m.type === 'update').flatMap((u) => u.nlri.map(String));
  }
}

async function until(what: string, pred: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('herald speaker --bgp-listen', () => {
  let kc: KubeConfig;
  let ns: string;
  let speaker: SpeakerProcess | undefined;
  const routers: TestRouter[] = [];

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await freshNamespace('bgplisten');
  });
  afterAll(async () => {
    for (const r of routers) r.socket.destroy();
    await speaker?.kill('SIGKILL');
  });

  it('accepts the configured peer on 127.0.0.1 and announces the Service over that connection; refuses 127.0.0.2', async () => {
    // Nobody listens there: the speaker's own dial to the peer fails, so the session comes in.
    const closedPort = await freePort();
    const peers = `    peers:\n    - peer-address: 127.0.0.1\n      peer-asn: ${ROUTER_AS}\n      my-asn: ${NODE_AS}\n      peer-port: ${closedPort}\n`;
    kubectl(['apply', '-f', '-'], { input: speakerConfigYaml(ns, { b: { protocol: 'bgp', addresses: ['203.0.113.0/24'] } }, peers) });
    await createServiceWithIps(kc, ns, 'web', [VIP]);
    await setEndpoints(kc, ns, 'web', [{ node: 'elsewhere', ready: true }]);

    const node = `${ns}-n1`;
    speaker = new SpeakerProcess({
      kubeconfig: kubeconfigPath(),
      node,
      namespace: ns,
      extraArgs: ['--announcer', 'protocols', '--bgp-listen=127.0.0.1:0', '--interface', 'herald-none0'],
    });
    // Port 0: the kernel picks a free port and the speaker logs it (no bound-then-released guess).
    const listening = await speaker.waitForLog('listening', (l) => l.event === 'bgpListening');
    const m = /^127\.0\.0\.1:(\d+)$/.exec(String(listening.reason));
    expect(m, String(listening.reason)).not.toBeNull();
    const listenPort = Number(m?.[1]);
    expect(listenPort).toBeGreaterThan(0);
    await speaker.waitForLog('session to the peer', (l) => l.event === 'sessionStart' && l.peer === '127.0.0.1');

    const router = new TestRouter(listenPort);
    routers.push(router);
    await speaker.waitForLog('incoming accepted', (l) => l.event === 'incomingAccepted' && l.peer === '127.0.0.1');
    await until('our route over the incoming connection', () => router.nlri().includes(`${VIP}/32`));
    expect(router.messages[0]).toMatchObject({ type: 'open', myAs: NODE_AS });
    expect(router.closed).toBe(false);

    const stranger = new TestRouter(listenPort, '127.0.0.2');
    routers.push(stranger);
    const refused = await speaker.waitForLog('refusal', (l) => l.event === 'incomingRefused');
    expect(refused).toMatchObject({ peer: '127.0.0.2', level: 'warn' });
    await until('the stranger closed', () => stranger.closed, 5000);
    expect(stranger.messages).toEqual([]);
  });

  it('exits 1 with the reason when it cannot listen (address in use)', async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      const second = new SpeakerProcess({ kubeconfig: kubeconfigPath(), node: `${ns}-n2`, namespace: ns, extraArgs: ['--announcer', 'protocols', `--bgp-listen=127.0.0.1:${port}`, '--interface', 'herald-none0'] });
      await until('the second speaker to exit', () => !second.running, 20_000);
      expect(second.child.exitCode).toBe(1);
      const fatal = second.logs.find((l) => l.event === 'startFailed');
      expect(String(fatal?.msg)).toMatch(new RegExp(`--bgp-listen: cannot listen on 127\\.0\\.0\\.1:${port}: .*Address already in use`));
    } finally {
      blocker.close();
    }
  });
});
