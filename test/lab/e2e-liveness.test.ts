// Speaker-to-speaker liveness (protocols/liveness) on the full lab: speakers run with
// --liveness-port and so the Lease timings that go with it (renew 10 s, duration 30 s): a takeover
// within seconds, which the speakers log as `livenessDead`, came from the liveness protocol.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FullLab, NODES, type NodeName } from './full-lab.js';
import { createService, tail } from './full-kube.js';
import { arpOwner, curlFromClient, labUp, startSpeaker, waitForBgpSessions, type HeraldLab } from './full-setup.js';
import { eventually } from './eventually.js';
import { describeLab } from './netns.js';
import { captureIn, monitorIn } from './full-bench.js';

const NS = 'liveness';

describeLab('full lab: layer2 takeover by the liveness protocol', () => {
  let h: HeraldLab;
  let lab: FullLab;
  let dir: string;
  const logs = (): string => NODES.map((n) => `--- speaker-${n}\n${tail(lab.logPath(`speaker-${n}`), 15)}`).join('\n');

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'herald-liveness-'));
    process.once('exit', () => FullLab.destroy(dir));
    const secret = join(dir, 'liveness-secret');
    writeFileSync(secret, randomBytes(32));
    h = await labUp({
      prefix: `hl${randomBytes(2).toString('hex')}`,
      dir,
      log: () => undefined,
      speakerArgs: ['--liveness-port', '7946', '--liveness-address', '{node-ipv4}', '--liveness-secret-file', secret],
    });
    lab = h.lab;
    await waitForBgpSessions(lab);
    await lab.kubectl(['create', 'namespace', NS]);
  }, 300_000);

  afterAll(() => {
    FullLab.destroy(dir);
  });

  const takeover = async (name: string, sig: 'SIGKILL' | 'SIGSTOP'): Promise<{ owner: NodeName; next: string; ms: number; vip: string }> => {
    const [vip] = await createService(lab, NS, name, 'lan', { pods: NODES });
    const owner = (await eventually('an ARP answer', async () => (await arpOwner(lab, vip)).node)) as NodeName;
    // A few liveness periods and Lease renewals with every speaker up.
    await new Promise((r) => setTimeout(r, 3000));
    const t0 = Date.now();
    lab.signal(`speaker-${owner}`, sig);
    const next = await eventually(
      'another node answering curl',
      async () => {
        const a = await curlFromClient(lab, vip, 0.3);
        return a !== null && a !== owner ? a : null;
      },
      30_000,
    ).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}\n${logs()}`);
    });
    const ms = Date.now() - t0;
    process.stdout.write(`liveness lab: ${sig} of speaker-${owner}: ${next} answers curl for ${vip} after ${ms} ms (Lease: renew 10 s, duration 30 s: the liveness defaults)\n`);
    const others = NODES.filter((n) => n !== owner);
    expect(others.some((n) => tail(lab.logPath(`speaker-${n}`), 200).includes('"livenessDead"')), logs()).toBe(true);
    return { owner, next, ms, vip };
  };

  it('SIGKILL of the owner\'s speaker: the others declare it dead by the liveness protocol and take over', async () => {
    const { owner } = await takeover('kill', 'SIGKILL');
    startSpeaker(h, owner);
    await waitForBgpSessions(lab);
  }, 180_000);

  it('SIGSTOP of the owner\'s speaker (a frozen node): the others take over, and the resumed speaker does not take its VIP back', async () => {
    // Every ARP frame on the client's link and every change of its neighbour table, from before the freeze.
    const arp = await captureIn(lab, 'client', 'arp');
    const neigh = await monitorIn(lab, 'client', 'neigh');
    try {
      const { owner, next, vip } = await takeover('freeze', 'SIGSTOP');
      // Resumed after about a second, well inside its Lease (30 s): the case where it could still
      // believe it owns the VIP. Its ARP requests and liveness datagrams queued meanwhile are read first.
      const resumedAt = Date.now();
      lab.signal(`speaker-${owner}`, 'SIGCONT');
      // Asked by ARP (fresh requests after the resume) and by curl for a few seconds: always the new owner.
      const answers: string[] = [];
      while (Date.now() - resumedAt < 6000) {
        answers.push(`arping ${(await arpOwner(lab, vip)).node ?? 'none'}`, `curl ${(await curlFromClient(lab, vip, 1)) ?? 'none'}`);
      }
      await new Promise((r) => setTimeout(r, 300));
      const ownerMac = lab.host(owner).mac.toLowerCase();
      // An answer or gratuitous ARP for the VIP (`Reply <vip> is-at`, `who-has <vip> tell <vip>`) sent by the old owner.
      const v = vip.replace(/\./g, '\\.');
      const claim = new RegExp(`^\\S+ ${ownerMac} > .*(reply ${v} is-at|who-has ${v} tell ${v},)`);
      const ownerFrames = arp.lines.filter((l) => l.at >= resumedAt && claim.test(l.text.toLowerCase())).map((l) => l.text);
      const backToOwner = neigh.lines.filter((l) => l.at >= resumedAt && l.text.includes(`${vip} `) && l.text.toLowerCase().includes(ownerMac)).map((l) => l.text);
      const report = `answers: ${answers.join(', ')}\nARP frames from ${owner} about ${vip} after the resume:\n${ownerFrames.join('\n')}\nclient neighbour changes:\n${neigh.lines.map((l) => l.text).join('\n')}\n${logs()}\n--- speaker-${owner} (resumed)\n${tail(lab.logPath(`speaker-${owner}`), 60)}`;
      // No ARP frame from the old owner's MAC for the VIP after the resume (no answer, no gratuitous ARP) ...
      expect(ownerFrames, report).toEqual([]);
      // ... so the client's entry never went back, and every answer came from the new owner.
      expect(backToOwner, report).toEqual([]);
      expect(answers.filter((a) => !a.endsWith(` ${next}`)), report).toEqual([]);
      const self = tail(lab.logPath(`speaker-${owner}`), 400);
      process.stdout.write(`liveness lab: resumed speaker-${owner}: ${self.includes('"livenessDeclaredDead"') ? 'learnt it was declared dead, started a new life' : 'was not declared dead'}; ${answers.length} answers all from ${next}\n`);
    } finally {
      await arp.stop();
      await neigh.stop();
    }
  }, 180_000);
});
