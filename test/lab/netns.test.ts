import { afterAll, beforeAll, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { Lab, describeLab } from './netns.js';

describeLab('lab: network namespaces', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await Lab.create({ hosts: ['router', 'client'] });
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('wires hosts to one bridge over IPv4 and IPv6', async () => {
    const router = lab.host('router');
    expect(await lab.mustExec('client', 'ping', ['-c', '1', '-W', '2', router.ipv4])).toMatch(/1 received/);
    expect(await lab.mustExec('client', 'ping', ['-6', '-c', '1', '-W', '2', router.ipv6])).toMatch(/1 received/);
  });

  it('tears down every namespace it made', async () => {
    const tmp = await Lab.create({ hosts: ['a', 'b'] });
    const mine = (): string[] => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith(tmp.id));
    expect(mine().length).toBe(3);
    tmp.spawn('a', 'sleep', ['60']);
    await tmp.destroy();
    expect(mine()).toEqual([]);
  });
});
