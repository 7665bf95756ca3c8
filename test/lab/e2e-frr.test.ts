// The BGP scenarios of e2e.test.ts against FRR instead of BIRD: ECMP over the three nodes, withdrawal
// on Service deletion, and the dead node's path dropped on a speaker SIGKILL.
import { mkdtempSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FullLab, NODES } from './full-lab.js';
import { createService } from './full-kube.js';
import { routerHops } from './full-router.js';
import { curlFromClient, labUp, startSpeaker, waitForBgpSessions, type HeraldLab } from './full-setup.js';
import { eventually } from './eventually.js';
import { describeLab } from './netns.js';

const NS = 'e2e-frr';

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
    const [vip] = await createService(lab, NS, 'web', 'routed');
    const all = NODES.map((n) => lab.host(n).ipv4).sort();
    await eventually('three paths in FRR', async () => (await routerHops(lab, vip)).join() === all.join());
    const kernel = JSON.parse(await lab.mustExec('router', 'ip', ['-j', 'route', 'show', vip])) as Array<{ nexthops?: Array<{ gateway: string }> }>;
    expect(kernel[0]?.nexthops?.map((x) => x.gateway).sort()).toEqual(all);
    expect(NODES as readonly string[]).toContain(await curlFromClient(lab, vip, 3));
    await lab.kubectl(['-n', NS, 'delete', 'svc', 'web']);
    await eventually('the route withdrawn', async () => (await routerHops(lab, vip)).length === 0);
  });

  it('a speaker SIGKILL drops that node from FRR; its restart brings it back', async () => {
    const [vip] = await createService(lab, NS, 'kill', 'routed');
    await eventually('three paths', async () => (await routerHops(lab, vip)).length === 3);
    lab.signal('speaker-node2', 'SIGKILL');
    await eventually('node2 gone', async () => !(await routerHops(lab, vip)).includes(lab.host('node2').ipv4));
    startSpeaker(h, 'node2');
    await waitForBgpSessions(lab);
    await eventually('three paths again', async () => (await routerHops(lab, vip)).length === 3);
  });
});
