// Crafted ARP/NDP frames on a real veth (issue 16): `herald l2 announce` owns a v4 and a v6 VIP on
// node1; the client sends every frame class of hostile-frames.ts over a packet socket, one at a time,
// and counts what node1 sends back. Also the kernel's part: VLAN-tagged frames (the tag becomes
// metadata the filter reads) and an NS longer than 2,048 bytes on a jumbo-frame (MTU 9000) link.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeLab, Lab } from './netns.js';
import { hostileCases } from './hostile-frames.js';
import { l2LabMissing, runTool, startResponder, VIP4, VIP6, type Responder } from './l2-lab.js';
import { parseMac } from '../../protocols/rawio/mac.js';

describeLab('layer2 announcer against crafted frames on a veth', () => {
  let lab: Lab;
  let owner: Responder | undefined;

  beforeAll(async () => {
    const missing = l2LabMissing();
    if (missing) throw new Error(missing);
    lab = await Lab.create({ hosts: ['client', 'node1'], prefix: 'l2h' });
    // A jumbo-frame link end to end: both ends and both bridge ports (the bridge takes their minimum).
    for (const host of ['client', 'node1']) await lab.mustExec(host, 'ip', ['link', 'set', 'dev', 'eth0', 'mtu', '9000']);
    for (const port of ['p0', 'p1']) await lab.mustExec('client', 'ip', ['-n', lab.bridgeNs, 'link', 'set', 'dev', port, 'mtu', '9000']);
    owner = await startResponder(lab, 'node1', ['--ip', VIP4, '--ip', VIP6, '--garp-count', '1']);
  });

  afterAll(async () => {
    await owner?.stop();
    await lab?.destroy();
  });

  it('answers the valid classes once, drops the invalid ones, defends a claimed VIP once and no more', async () => {
    const client = lab.host('client');
    const node1 = lab.host('node1');
    const params = {
      'src-mac': client.mac,
      'src-ip4': client.ipv4,
      'src-ip6': client.ipv6,
      'owner-mac': node1.mac,
      vip4: VIP4,
      vip6: VIP6,
      'wait-ms': 300,
    };
    const r = await runTool<{ seen: Record<string, number>; sizes: Record<string, number> }>(lab, 'client', 'hostile', { iface: 'eth0', ...params }, 120_000);
    const cases = hostileCases({ clientMac: parseMac(client.mac), clientIp4: client.ipv4, clientIp6: client.ipv6, ownerMac: parseMac(node1.mac), vip4: VIP4, vip6: VIP6 });
    const got = Object.fromEntries(cases.map((c) => [c.name, r.seen[c.name]]));
    const want = Object.fromEntries(cases.map((c) => [c.name, c.expect === 'drop' ? 0 : 1]));
    expect(got).toEqual(want);
    expect(r.sizes['ns: longer than 2,048 bytes (jumbo link)']).toBeGreaterThan(2048);
    // Inside the defend interval (10 s) a second claim gets nothing: no ARP war.
    const again = cases.filter((c) => c.expect === 'conflict').map((c) => r.seen[`${c.name}: claimed again`]);
    expect(again).toEqual([0, 0]);

    const conflicts = owner?.logs.filter((l) => l.msg?.startsWith('address conflict')) ?? [];
    expect(conflicts.length).toBe(2); // one per VIP: the defences, not every claim
    expect(await owner?.stop()).toBe(0);
    const stopped = owner?.logs.find((l) => l.msg === 'stopped') as
      | { counters: Record<string, { conflicts: number }>; dropped: Record<string, number>; invalidFrames: number }
      | undefined;
    expect(stopped?.counters[VIP4].conflicts).toBe(2);
    expect(stopped?.counters[VIP6].conflicts).toBe(2);
    // 9 classes carry a bad MAC; the 4 with a group or zero Ethernet source never cross the bridge
    // (Linux bridges drop them), the unit test covers those.
    expect(stopped?.dropped['sender-mac']).toBe(5);
    expect(stopped?.dropped['sender-ip']).toBe(7);
    expect(stopped?.dropped['unspecified-with-link-layer']).toBe(1);
    expect(stopped?.dropped['dad-destination']).toBe(1);
    owner = undefined;
  });
});
