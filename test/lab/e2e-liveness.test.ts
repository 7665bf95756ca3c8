// Speaker-to-speaker liveness (protocols/liveness) on the full lab: speakers run with
// --liveness-port; the Lease keeps its default timings (renew 1 s, duration 3 s), so a takeover that
// the speakers log as `livenessDead` came from the liveness protocol, not from the Lease expiring.
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
  });

  afterAll(() => {
    FullLab.destroy(dir);
  });

  const takeover = async (name: string, sig: 'SIGKILL' | 'SIGSTOP'): Promise<{ owner: NodeName; next: string; ms: number }> => {
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
    process.stdout.write(`liveness lab: ${sig} of speaker-${owner}: ${next} answers curl for ${vip} after ${ms} ms (Lease: renew 1 s, duration 3 s)\n`);
    const others = NODES.filter((n) => n !== owner);
    expect(others.some((n) => tail(lab.logPath(`speaker-${n}`), 200).includes('"livenessDead"')), logs()).toBe(true);
    return { owner, next, ms };
  };

  it('SIGKILL of the owner\'s speaker: the others declare it dead by the liveness protocol and take over', async () => {
    const { owner } = await takeover('kill', 'SIGKILL');
    startSpeaker(h, owner);
    await waitForBgpSessions(lab);
  });

  it('SIGSTOP of the owner\'s speaker (a frozen node): the others declare it dead by the liveness protocol and take over', async () => {
    const { owner } = await takeover('freeze', 'SIGSTOP');
    // Known gap (README, liveness): resumed after a freeze shorter than the Lease duration, the speaker
    // may take its VIPs back before it learns it was declared dead (seen intermittently); so this test
    // checks the takeover only, and the speaker is resumed for the teardown.
    lab.signal(`speaker-${owner}`, 'SIGCONT');
  });
});
