// IPv6 and dual-stack end to end on the full lab: IPv6 and dual-stack bgp Services over an IPv6
// BGP session per node (MP_REACH_NLRI, the node's global address as next hop) with ECMP at the
// router, and a dual-stack layer2 Service answered by one owner over both ARP and NDP. One lab.
import { mkdtempSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FullLab, NODES } from './full-lab.js';
import { configMapYaml, createService, dualStackConfig, tail } from './full-kube.js';
import { enableRouterIpv6, routerHops, routerSessions, routerShow } from './full-router.js';
import { arpOwner, curlFromClient, labUp, ndpOwner, waitForBgpSessions } from './full-setup.js';
import { eventually } from './eventually.js';
import { describeLab } from './netns.js';

const NS = 'e2e-ipv6';

describeLab('full lab end to end over IPv6 and dual stack (NDP, MP-BGP)', () => {
  let lab: FullLab;
  let dir: string;

  const v4Hops = (): string[] => NODES.map((n) => lab.host(n).ipv4).sort();
  const v6Hops = (): string[] => NODES.map((n) => lab.host(n).ipv6).sort();

  /** The router's kernel next hops for a VIP (the ECMP route BIRD installed). */
  async function kernelHops(vip: string): Promise<string[]> {
    const out = await lab.mustExec('router', 'ip', ['-j', vip.includes(':') ? '-6' : '-4', 'route', 'show', vip]);
    const routes = JSON.parse(out) as Array<{ gateway?: string; nexthops?: Array<{ gateway: string }> }>;
    const r = routes[0];
    return (r?.nexthops?.map((x) => x.gateway) ?? (r?.gateway ? [r.gateway] : [])).sort();
  }

  async function routed(vip: string, hops: string[]): Promise<void> {
    await eventually(`${hops.length} paths for ${vip} at the router`, async () => (await routerHops(lab, vip)).join() === hops.join()).catch(async (e: unknown) => {
      const [cmd, out] = await routerShow(lab, { route: vip }).catch((x: unknown) => ['route', String(x)]);
      throw new Error(`${(e as Error).message}\n${cmd}:\n${out}\nspeaker-node1 log:\n${tail(lab.logPath('speaker-node1'), 15)}`);
    });
    expect(await kernelHops(vip)).toEqual(hops);
  }

  const service = (name: string, pool: string, family: 6 | 'dual'): Promise<string[]> => createService(lab, NS, name, pool, { family });

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'herald-e2e-ipv6-'));
    process.once('exit', () => FullLab.destroy(dir));
    // ROUTER=frr runs the same scenarios against FRR.
    const h = await labUp({ prefix: `h6${randomBytes(2).toString('hex')}`, dir, router: process.env.ROUTER === 'frr' ? 'frr' : 'bird', log: () => undefined });
    lab = h.lab;
    await waitForBgpSessions(lab);
    await enableRouterIpv6(lab);
    // The router's IPv6 address as a second peer, and the IPv6 / dual-stack pools.
    await lab.kubectl(['apply', '-f', '-'], configMapYaml(dualStackConfig(lab)));
    await eventually('every node\'s IPv6 BGP session Established', async () => [...(await routerSessions(lab, 6)).values()].every((s) => s === 'Established'), 30_000).catch(async (e: unknown) => {
      throw new Error(`${(e as Error).message}\n${(await routerShow(lab, 'sessions'))[1]}\nspeaker-node1 log:\n${tail(lab.logPath('speaker-node1'), 20)}`);
    });
    await lab.kubectl(['create', 'namespace', NS]);
  });

  afterAll(() => {
    FullLab.destroy(dir);
  });

  it('bgp over IPv6: the router has an ECMP /128 via the three nodes\' IPv6 addresses, and curl -6 answers', async () => {
    const [vip] = await service('bgp-v6', 'routed6', 6);
    expect(vip).toMatch(/^2001:db8:203::1[0-9a-f]$/);
    // The speakers' MP_REACH next hop is each node's global address on the link (its session's source).
    await routed(vip, v6Hops());
    expect(NODES as readonly string[]).toContain(await curlFromClient(lab, vip, 3));
  });

  it('dual-stack bgp Service (RequireDualStack): both VIPs routed ECMP via all nodes, one per family; curl answers on both', async () => {
    const ips = await service('bgp-dual', 'routed-dual', 'dual');
    const v4 = ips.find((ip) => !ip.includes(':'));
    const v6 = ips.find((ip) => ip.includes(':'));
    expect(v4).toMatch(/^203\.0\.113\.2[0-9]$/);
    expect(v6).toMatch(/^2001:db8:203::2[0-9a-f]$/);
    await routed(v4 as string, v4Hops());
    await routed(v6 as string, v6Hops());
    expect(NODES as readonly string[]).toContain(await curlFromClient(lab, v4 as string, 3));
    expect(NODES as readonly string[]).toContain(await curlFromClient(lab, v6 as string, 3));
  });

  it('dual-stack layer2 Service: ARP and NDP name the same single owner, which answers curl on both VIPs', async () => {
    const ips = await service('l2-dual', 'lan-dual', 'dual');
    const v4 = ips.find((ip) => !ip.includes(':')) as string;
    const v6 = ips.find((ip) => ip.includes(':')) as string;
    expect(v4).toMatch(/^192\.0\.2\.21[0-9]$/);
    expect(v6).toMatch(/^2001:db8:0:1::21[0-9]$/);
    const owner = await eventually('an ARP answer', async () => (await arpOwner(lab, v4)).node);
    expect(await eventually('an NDP answer', async () => (await ndpOwner(lab, v6)).node)).toBe(owner);
    // Repeated, the answers stay on that one node (the others stay silent for both families).
    for (let i = 0; i < 2; i++) {
      // (An unanswered request on a loaded machine is asked again: the answer, when there is one, must be the owner's.)
      expect(await eventually('an ARP answer', async () => (await arpOwner(lab, v4)).node, 15_000)).toBe(owner);
      expect(await eventually('an NDP answer', async () => (await ndpOwner(lab, v6)).node, 15_000)).toBe(owner);
    }
    expect(await curlFromClient(lab, v4, 3)).toBe(owner);
    expect(await curlFromClient(lab, v6, 3)).toBe(owner);
  });
});
