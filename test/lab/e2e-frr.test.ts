// The BGP scenarios of e2e.test.ts against FRR instead of BIRD: ECMP over the three nodes, withdrawal
// on Service deletion, and the dead node's path dropped on a speaker SIGKILL.
import { mkdtempSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FullLab, NODES } from './full-lab.js';
import { addVipToNodes, placePods, serviceYaml, waitForServiceIps } from './full-kube.js';
import { routerHops } from './full-router.js';
import { curlFromClient, labUp, startSpeaker, waitForBgpSessions, type HeraldLab } from './full-setup.js';
import { describeLab } from './netns.js';

const NS = 'e2e-frr';

async function eventually(what: string, probe: () => Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describeLab('full lab end to end with FRR as the router', () => {
  let h: HeraldLab;
  let lab: FullLab;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'herald-e2e-frr-'));
    process.once('exit', () => FullLab.destroy(dir));
    h = await labUp({ prefix: `hf${randomBytes(2).toString('hex')}`, dir, router: 'frr', log: () => undefined });
    lab = h.lab;
    await waitForBgpSessions(lab);
    await lab.kubectl(['create', 'namespace', NS]);
  });

  afterAll(() => {
    FullLab.destroy(dir);
  });

  it('FRR learns the VIP from every node, installs ECMP, and the client reaches a node; deletion withdraws it', async () => {
    await lab.kubectl(['apply', '-f', '-'], serviceYaml('web', NS, 'routed'));
    await placePods(lab, NS, 'web', NODES);
    const [vip] = await waitForServiceIps(lab, NS, 'web');
    await addVipToNodes(lab, vip);
    const all = NODES.map((n) => lab.host(n).ipv4).sort();
    await eventually('three paths in FRR', async () => (await routerHops(lab, vip)).join() === all.join());
    const kernel = JSON.parse(await lab.mustExec('router', 'ip', ['-j', 'route', 'show', vip])) as Array<{ nexthops?: Array<{ gateway: string }> }>;
    expect(kernel[0]?.nexthops?.map((x) => x.gateway).sort()).toEqual(all);
    expect(NODES as readonly string[]).toContain(await curlFromClient(lab, vip, 3));
    await lab.kubectl(['-n', NS, 'delete', 'svc', 'web']);
    await eventually('the route withdrawn', async () => (await routerHops(lab, vip)).length === 0);
  });

  it('a speaker SIGKILL drops that node from FRR; its restart brings it back', async () => {
    await lab.kubectl(['apply', '-f', '-'], serviceYaml('kill', NS, 'routed'));
    await placePods(lab, NS, 'kill', NODES);
    const [vip] = await waitForServiceIps(lab, NS, 'kill');
    await eventually('three paths', async () => (await routerHops(lab, vip)).length === 3);
    lab.signal('speaker-node2', 'SIGKILL');
    await eventually('node2 gone', async () => !(await routerHops(lab, vip)).includes(lab.host('node2').ipv4));
    startSpeaker(h, 'node2');
    await waitForBgpSessions(lab);
    await eventually('three paths again', async () => (await routerHops(lab, vip)).length === 3);
  });
});
