// Broken and breaking ConfigMaps on the full lab, with traffic flowing: a layer2 and a bgp Service
// answer curl while `kubectl apply` puts YAML garbage, then a config without the bgp Service's pool,
// then a good config into herald-config. The first two are refused with Warning Events that say why
// (and the Service and IP for the breaking one), the old config stays in force, and a probe every
// 200 ms sees no failed curl, no neighbour-entry move, and no lost path at the router. One lab.
import { mkdtempSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { FullLab, HERALD_NAMESPACE, NODES, type NodeName } from './full-lab.js';
import { configMapYaml, createService, daemonMetric, events, poolConfig, serviceIps, tail, type LabEvent } from './full-kube.js';
import { routerHops } from './full-router.js';
import { arpOwner, curlFromClient, labUp, waitForBgpSessions } from './full-setup.js';
import { eventually, type Probe } from './eventually.js';
import { describeLab } from './netns.js';

const NS = 'e2e-config';
const CONTROLLER_METRICS = 7472;
const SPEAKER_METRICS = 7473;
const PROBE_EVERY_MS = 200;

/** Probe rounds (every 200 ms) the window lasts at least: 3 s, including the time after the last apply. */
const MIN_ROUNDS = 15;

/** eventually at this scenario's pace: every 200 ms, as often as the traffic probe. */
const settle = <T>(what: string, probe: Probe<T>): Promise<T> => eventually(what, probe, 30_000, 200);

/** What the traffic probe saw: rounds made and every failure, with the time since the probe started. */
interface ProbeReport {
  rounds: number;
  failures: string[];
}

describeLab('full lab: broken and breaking ConfigMaps leave traffic alone', () => {
  let lab: FullLab;
  let dir: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'herald-e2e-config-'));
    process.once('exit', () => FullLab.destroy(dir));
    // ROUTER=frr runs the same scenario against FRR.
    const h = await labUp({ prefix: `hc${randomBytes(2).toString('hex')}`, dir, router: process.env.ROUTER === 'frr' ? 'frr' : 'bird', log: () => undefined });
    lab = h.lab;
    await waitForBgpSessions(lab);
    await lab.kubectl(['create', 'namespace', NS]);
  });

  afterAll(() => {
    FullLab.destroy(dir);
  });

  const service = async (name: string, pool: string): Promise<string> => (await createService(lab, NS, name, pool))[0];

  const logText = (daemon: string): string => {
    try {
      return readFileSync(lab.logPath(daemon), 'utf8');
    } catch {
      return '';
    }
  };

  /** The client's neighbour entry for `ip` (its MAC), or null. */
  async function neighbourMac(ip: string): Promise<string | null> {
    const out = await lab.mustExec('client', 'ip', ['-j', 'neigh', 'show', ip, 'dev', 'eth0']);
    const entry = (JSON.parse(out || '[]') as Array<{ lladdr?: string }>)[0];
    return entry?.lladdr?.toLowerCase() ?? null;
  }

  /** Curls both VIPs, reads the neighbour entry and the router's paths every 200 ms until stopped. */
  function probeTraffic(l2: string, owner: NodeName, bgp: string): { stop: (minRounds?: number) => Promise<ProbeReport> } {
    const ownerMac = lab.host(owner).mac.toLowerCase();
    const allHops = NODES.map((n) => lab.host(n).ipv4).sort().join();
    const report: ProbeReport = { rounds: 0, failures: [] };
    const t0 = Date.now();
    let running = true;
    let ended = false;
    const loop = (async () => {
      try {
        while (running) {
          const started = Date.now();
          const at = `${started - t0} ms`;
          const [a, b, mac, hops] = await Promise.all([curlFromClient(lab, l2, 1), curlFromClient(lab, bgp, 1), neighbourMac(l2), routerHops(lab, bgp)]);
          if (a !== owner) report.failures.push(`${at}: curl ${l2} answered ${JSON.stringify(a)}, not ${owner}`);
          if (b === null || !(NODES as readonly string[]).includes(b)) report.failures.push(`${at}: curl ${bgp} answered ${JSON.stringify(b)}`);
          if (mac !== ownerMac) report.failures.push(`${at}: neighbour entry for ${l2} is ${mac}, not ${owner}'s ${ownerMac}`);
          if (hops.join() !== allHops) report.failures.push(`${at}: router paths for ${bgp}: ${hops.join(' ') || 'none'}`);
          report.rounds++;
          await new Promise((r) => setTimeout(r, Math.max(0, PROBE_EVERY_MS - (Date.now() - started))));
        }
      } finally {
        ended = true;
      }
    })();
    return {
      // Keeps probing until `minRounds` were made: on a quiet machine the three applies can be over
      // in under two seconds, and the probe should also watch the time right after them.
      stop: async (minRounds = 0) => {
        while (report.rounds < minRounds && !ended) await new Promise((r) => setTimeout(r, PROBE_EVERY_MS));
        running = false;
        await loop;
        return report;
      },
    };
  }

  /**
   * Waits for new Events on herald-config (not among `before`) matching `match`, from the controller
   * and from `speakers` distinct speakers; returns the controller's.
   */
  async function configEvents(what: string, before: readonly LabEvent[], match: (e: LabEvent) => boolean, speakers: number): Promise<{ controller: LabEvent; speakers: LabEvent[] }> {
    const seen = new Set(before.map((e) => e.id));
    const fresh = async (): Promise<LabEvent[]> => (await events(lab, HERALD_NAMESPACE)).filter((e) => e.kind === 'ConfigMap' && !seen.has(e.id) && match(e));
    return settle(what, async () => {
      const got = await fresh();
      const controller = got.find((e) => e.reporter === 'herald.io/controller');
      const bySpeaker = new Map(got.filter((e) => e.reporter === 'herald.io/speaker').map((e) => [e.instance, e]));
      return controller && bySpeaker.size >= speakers ? { controller, speakers: [...bySpeaker.values()] } : null;
    }).catch(async (e: unknown) => {
      const all = await events(lab, HERALD_NAMESPACE);
      throw new Error(`${(e as Error).message}\nevents:\n${all.map((x) => `${x.type} ${x.reason} ${x.reporter} ${x.instance}: ${x.message}`).join('\n')}\ncontroller log:\n${tail(lab.logPath('controller'), 10)}`);
    });
  }

  const controllerStale = (): Promise<number | null> => daemonMetric(lab, 'control', CONTROLLER_METRICS, 'herald_config_stale');

  it('YAML garbage, then a config dropping a pool in use: both refused with Warning Events, the old config stays, traffic never drops; a good config is accepted', async () => {
    const l2 = await service('l2-web', 'lan');
    const bgp = await service('bgp-web', 'routed');
    const owner = (await settle('an ARP answer', async () => (await arpOwner(lab, l2)).node)) as NodeName;
    await settle('three paths at the router', async () => (await routerHops(lab, bgp)).length === 3);
    await settle('curl answering on both VIPs', async () => (await curlFromClient(lab, l2, 1)) === owner && (await curlFromClient(lab, bgp, 1)) !== null);
    expect(await neighbourMac(l2)).toBe(lab.host(owner).mac.toLowerCase());
    expect(await controllerStale()).toBe(0);
    const good = poolConfig(lab);

    const daemons = ['controller', ...NODES.map((n) => `speaker-${n}`)];
    const logStart = new Map(daemons.map((d) => [d, logText(d).length]));
    const probe = probeTraffic(l2, owner, bgp);
    let report: ProbeReport | undefined;
    try {
      // 1. YAML garbage: refused as invalid, the parse error in a Warning Event.
      let before = await events(lab, HERALD_NAMESPACE);
      await lab.kubectl(['apply', '-f', '-'], configMapYaml('address-pools:\n- name: lan\n  protocol: [layer2\n  addresses: {{ oops\n'));
      const invalid = await configEvents('ConfigInvalid Warnings from the controller and the three speakers', before, (e) => e.type === 'Warning' && e.reason === 'ConfigInvalid', NODES.length);
      for (const e of [invalid.controller, ...invalid.speakers]) expect(e.message).toMatch(/^config refused, invalid \(1 error\); keeping the config in force: data\.config: invalid YAML at line \d+, column \d+/);
      expect(await settle('herald_config_stale 1 on the controller', async () => (await controllerStale()) === 1)).toBe(true);

      // 2. A valid config without the bgp Service's pool: refused as breaking, naming the Service and its IP.
      before = await events(lab, HERALD_NAMESPACE);
      await lab.kubectl(['apply', '-f', '-'], configMapYaml(good.split('- name: routed')[0]));
      // Every speaker decides with the controller's rule on the same statuses, so each one refuses too.
      const refused = await configEvents('ConfigRefused Warnings from the controller and the three speakers', before, (e) => e.type === 'Warning' && e.reason === 'ConfigRefused', NODES.length);
      for (const e of [refused.controller, ...refused.speakers]) {
        expect(e.message).toContain(`${NS}/bgp-web ${bgp}`);
        expect(e.message).not.toContain('l2-web');
      }
      expect(await controllerStale()).toBe(1);

      // 3. A good config (one more pool): accepted, nothing stale any more.
      before = await events(lab, HERALD_NAMESPACE);
      await lab.kubectl(['apply', '-f', '-'], configMapYaml(`${good}- name: spare\n  protocol: layer2\n  addresses:\n  - 198.51.100.0/28\n`));
      const loaded = await configEvents('a ConfigLoaded Event from the controller', before, (e) => e.type === 'Normal' && e.reason === 'ConfigLoaded', 0);
      expect(loaded.controller.message).toMatch(/^config [0-9a-f]{12} loaded: 4 address pools, 1 BGP peers$/);
      await settle('herald_config_stale 0 on the controller', async () => (await controllerStale()) === 0);
      for (const n of NODES) await settle(`herald_config_stale 0 on speaker-${n}`, async () => (await daemonMetric(lab, n, SPEAKER_METRICS, 'herald_config_stale')) === 0);
    } finally {
      report = await probe.stop(MIN_ROUNDS);
    }
    expect(report.failures).toEqual([]);
    // A probe every 200 ms over several seconds: the window was really watched.
    expect(report.rounds).toBeGreaterThanOrEqual(MIN_ROUNDS);
    expect(await serviceIps(lab, NS, 'l2-web')).toEqual([l2]);
    expect(await serviceIps(lab, NS, 'bgp-web')).toEqual([bgp]);
    expect(await settle('an ARP answer', async () => (await arpOwner(lab, l2)).node)).toBe(owner);
    // Nor did any daemon touch an assignment or an announcement in the window.
    for (const d of daemons) expect(logText(d).slice(logStart.get(d)).match(/"event":"(clearAssignment|ipReleased|ipAllocated|serviceWithdrawn|servicesWithdrawn|sessionStart)"[^\n]*/g) ?? [], d).toEqual([]);
  });
});
