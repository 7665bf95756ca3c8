// The speaker's BGP listener (`herald speaker --bgp-listen`, wired as in cli/speaker.ts by
// test/lab/bgp-listen-speaker.ts) against BIRD in a lab: the router connects in, signed with TCP
// MD5 whose key sits on the dual-stack listening socket, and gets our routes; an unsigned
// connection from the router's address never gets through; a host that is not a peer is refused
// and logged; with both sides dialling at once (forced by SIGSTOP), the collision leaves one
// stable session on our connection.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { Lab, describeLab } from './netns.js';
import { createRouter, sleep, type BirdRouter, type FrrRouter, type RouterPeer } from './routers.js';
import { REPO_ROOT, Speaker, type LogLine } from './bgp-speaker.js';

const SCRIPT = join(REPO_ROOT, 'test', 'lab', 'bgp-listen-speaker.ts');
const ROUTER_AS = 64512;
const NODE_AS = 64513;
const VIP = '203.0.113.20';
const PASSWORD = 'listen-secret';

/** One TCP connect from `host` to `to:port`: 'closed' (accepted, then closed by the other side), 'open' (still open after `ms`), 'timeout' (no handshake), or 'error CODE'. */
const PROBE = `
const net = require('node:net');
const [to, port, ms] = process.argv.slice(1);
const s = net.connect({ host: to, port: Number(port) });
const t = setTimeout(() => { console.log(s.readyState === 'open' ? 'open' : 'timeout'); process.exit(0); }, Number(ms));
s.on('error', (e) => { clearTimeout(t); console.log('error ' + e.code); process.exit(0); });
s.on('close', () => { clearTimeout(t); console.log('closed'); process.exit(0); });
`;

describeLab('bgp listener: the router connects to the speaker', () => {
  let lab: Lab;
  let router: BirdRouter | FrrRouter | undefined;
  let speaker: Speaker | undefined;

  beforeAll(async () => {
    lab = await Lab.create({ hosts: ['router', 'node1', 'node2'], prefix: 'hg' });
  });
  afterAll(async () => {
    await lab?.destroy();
  });
  afterEach(async () => {
    await speaker?.stop('SIGKILL');
    speaker = undefined;
    await router?.close();
    router = undefined;
  });

  const ip = (h: string): string => lab.host(h).ipv4;

  function config(peerPort: number, password?: string): string {
    return [
      'peers:',
      `- peer-address: ${ip('router')}`,
      `  peer-asn: ${ROUTER_AS}`,
      `  my-asn: ${NODE_AS}`,
      `  peer-port: ${peerPort}`,
      ...(password ? [`  password: ${password}`] : []),
      'address-pools:',
      '- name: bgp',
      '  protocol: bgp',
      '  addresses: [203.0.113.0/24]',
      '',
    ].join('\n');
  }

  function startSpeaker(cfg: string, listen = ''): Speaker {
    const spec = { config: cfg, listen, node: 'node1', labels: {}, balancers: [{ name: 'default/web', ips: [VIP], pool: 'bgp' }] };
    speaker = new Speaker('node1', lab.spawn('node1', process.execPath, ['--import', 'tsx', SCRIPT, JSON.stringify(spec)], { cwd: REPO_ROOT }));
    return speaker;
  }

  async function startBird(peer: RouterPeer): Promise<BirdRouter | FrrRouter> {
    router = createRouter('bird', lab, { as: ROUTER_AS, peers: [peer] });
    await router.start();
    return router;
  }

  const established = (l: LogLine): boolean => l.event === 'state' && /-> Established/.test(l.msg);

  async function probe(from: string, port = 179, ms = 1500): Promise<string> {
    return (await lab.mustExec(from, process.execPath, ['-e', PROBE, ip('node1'), String(port), String(ms)], { timeoutMs: ms + 10_000 })).trim();
  }

  describe('bird', () => {
    it('the router dials in with TCP MD5 (our own dial goes nowhere) and gets our route; unsigned connections from its address never arrive', async () => {
      // Our side dials port 1790, where nobody listens: the only way up is the router's connection to our :179.
      const s = startSpeaker(config(1790, PASSWORD));
      await s.waitForLog('listening', (l) => l.event === 'bgpListening');
      // All addresses: the dual-stack socket; the IPv4 router's key is set v4-mapped on it.
      expect(s.lines.find((l) => l.event === 'bgpListening')?.reason).toBe(':::179');
      const r = await startBird({ address: ip('node1'), as: NODE_AS, passive: false, password: PASSWORD });
      await s.waitForLog('incoming connection from the router', (l) => l.event === 'incomingAccepted' && l.peer === ip('router'), 30_000);
      await s.waitForLog('established', established, 30_000);
      await r.waitForState(ip('node1'), 'Established');
      const paths = await r.waitFor('our route', () => r.routes(), (p) => p.length === 1);
      expect(paths[0]).toMatchObject({ prefix: `${VIP}/32`, nextHop: ip('node1'), asPath: [NODE_AS] });

      // The key is on the listening socket for the router's address: an unsigned SYN from there is dropped by the kernel.
      expect(await probe('router')).toBe('timeout');
    });

    it('a host that is not a peer of this node is accepted by TCP, closed at once, and logged with its address', async () => {
      const s = startSpeaker(config(1790));
      await s.waitForLog('listening', (l) => l.event === 'bgpListening');
      expect(await probe('node2')).toBe('closed');
      const refused = await s.waitForLog('refusal', (l) => l.event === 'incomingRefused');
      expect(refused).toMatchObject({ peer: ip('node2'), level: 'warn' });
      expect(refused.msg).toMatch(/not a configured peer/);
    });

    it('both sides dial at once: collision resolution (RFC 4271 §6.8) keeps our connection on both ends, one stable session', async () => {
      // A real collision needs both connections up before either side has finished the handshake
      // on one: with the router frozen (SIGSTOP), our connection completes in its kernel; then we
      // are frozen while the router wakes, answers on ours and dials our listener; then we wake.
      // The woken router handles its connect timer and our connection in either order; when it takes
      // ours first (answers our OPEN), it never dials and there is no collision to resolve: that
      // round is started again (seen in CI under load), up to 4 rounds.
      const both = async (): Promise<string[]> => (await lab.mustExec('node1', 'ss', ['-Htn', 'state', 'established', '( sport = :179 or dport = :179 )'])).trim().split('\n').filter(Boolean);
      let r: BirdRouter | FrrRouter;
      let s: Speaker;
      for (let round = 1; ; round++) {
        r = await startBird({ address: ip('node1'), as: NODE_AS, passive: false });
        r.freeze();
        s = startSpeaker(config(179));
        await s.waitForLog('our connection', (l) => l.event === 'state' && /-> OpenSent/.test(l.msg), 30_000);
        s.child.kill('SIGSTOP');
        r.thaw();
        let dialled = false;
        try {
          await r.waitFor('the router dialling our listener too', both, (c) => c.length === 2, 10_000);
          dialled = true;
        } catch (e) {
          if (round >= 4) throw e;
        } finally {
          s.child.kill('SIGCONT');
        }
        if (dialled) break;
        await s.stop('SIGKILL');
        speaker = undefined;
        await r.close();
        router = undefined;
      }
      await s.waitForLog('established', established, 30_000);
      await r.waitForState(ip('node1'), 'Established', 30_000);
      await r.waitFor('our route', () => r.routes(), (p) => p.length === 1 && p[0].prefix === `${VIP}/32`);
      // Which of the two we read first decides the branch: both OPENs in (§6.8 by identifier: ours
      // is node1's address, higher than the router's, so its connection goes) or ours already
      // Established (the new connection goes). Either way the router's connection is closed.
      const collision = await s.waitForLog('collision', (l) => l.event === 'collision', 10_000);
      expect(collision.msg).toMatch(/^connection collision: closing the incoming connection$|^incoming connection while established: closing it$/);
      // Stable: no second session, no flap, one BGP connection left, and it is ours (to the router's :179).
      await sleep(3000);
      expect(s.lines.filter(established)).toHaveLength(1);
      expect(await r.peerState(ip('node1'))).toBe('Established');
      const conns = await both();
      expect(conns, conns.join('\n')).toHaveLength(1);
      expect(conns[0]).toMatch(new RegExp(`${ip('router').replace(/\./g, '\\.')}:179\\s*$`));
    });
  });
});
