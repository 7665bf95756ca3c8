// Real UDP on 127.0.0.1: three SWIM members over LivenessTransport, one of them reading version 1
// only (a speaker from before version 2: a rolling upgrade); it is closed (a crash) and the others
// declare it dead; forged, garbage and oversized datagrams are dropped and counted by reason.
import { createSocket } from 'node:dgram';
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock } from '../../../protocols/clock.js';
import { LivenessKey, seal } from '../../../protocols/liveness/message.js';
import { Swim } from '../../../protocols/liveness/swim.js';
import { LivenessTransport, type DropReason } from '../../../protocols/liveness/transport.js';

const SECRET = Buffer.from('0123456789abcdef-shared');
const cleanup: Array<() => void> = [];
afterEach(() => {
  for (const f of cleanup.splice(0)) f();
});

async function until(pred: () => boolean, ms = 10_000): Promise<void> {
  const t0 = Date.now();
  while (!pred()) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('liveness over UDP (loopback)', () => {
  it('detects a closed member and counts forged, garbage and oversized datagrams', async () => {
    const names = ['a', 'b', 'c'];
    const drops: DropReason[] = [];
    const nodes = new Map<string, { swim: Swim; transport: LivenessTransport; port: number }>();
    for (const name of names) {
      const box: { swim?: Swim } = {};
      const transport = new LivenessTransport({ secret: SECRET, self: name, versions: name === 'c' ? [1] : undefined, address: '127.0.0.1', port: 0, onMessage: (m) => box.swim?.receive(m), onDrop: (r) => drops.push(r) });
      const swim = (box.swim = new Swim({ clock: systemClock, self: name, periodMs: 100, probeTimeoutMs: 40, suspicionMs: 200, indirect: 1, send: (to, m) => transport.send(to, m) }));
      const port = await transport.start();
      nodes.set(name, { swim, transport, port });
      cleanup.push(() => {
        swim.stop();
        transport.close();
      });
    }
    for (const n of nodes.values()) {
      for (const [peer, p] of nodes) n.transport.setPeer(peer, '127.0.0.1', p.port, p.transport.advertises);
      n.swim.setMembers(names);
      n.swim.start();
    }
    await new Promise((r) => setTimeout(r, 500));
    expect(nodes.get('a')?.swim.dead()).toEqual([]);
    // Hostile datagrams to a.
    const port = nodes.get('a')?.port ?? 0;
    const raw = createSocket('udp4');
    cleanup.push(() => raw.close());
    const forged = seal({ version: 2, stamp: 1, message: { type: 'ping', seq: 1, incarnation: 0, from: 'b', target: 'a', updates: [{ name: 'c', state: 'dead', incarnation: 99 }] } }, new LivenessKey(Buffer.from('not the shared secret')));
    for (const d of [forged, Buffer.from('garbage'), Buffer.alloc(2000)]) raw.send(d, port, '127.0.0.1');
    await until(() => drops.length >= 3);
    expect(drops.sort()).toEqual(['BadMac', 'BadMagic', 'tooLong']);
    expect(nodes.get('a')?.swim.state('c')).toBe('alive');
    // Crash of c.
    const c = nodes.get('c');
    c?.swim.stop();
    c?.transport.close();
    const t0 = Date.now();
    await until(() => nodes.get('a')?.swim.state('c') === 'dead' && nodes.get('b')?.swim.state('c') === 'dead');
    expect(Date.now() - t0).toBeGreaterThan(200); // the suspicion time at least
  });
});
