// One config truth: the controller and the speakers (real processes, record announcer) decide on
// every ConfigMap change with the same rule over the same statuses, so after each accepted or
// refused change every daemon runs the same config generation (herald_config_generation's hash
// label, equal to configHash of the ConfigMap the test applied). Includes a pool protocol change
// while speakers announce a VIP of that pool (accepted everywhere, re-announced by the new
// protocol; the speakers used to refuse it on their own), a breaking and an invalid change
// (refused everywhere), a refused change that becomes acceptable when the Service it breaks goes,
// and a restarted speaker.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { configHash, configMapText } from '../../allocator/config-verdict.js';
import { parseConfig } from '../../config/parse.js';
import { ControllerProcess, eventNotes, ingressOf } from './controller-process.js';
import type { HeraldProcess } from './herald-process.js';
import { freshNamespace, kubeConfig, kubeconfigPath, kubectl, waitFor } from './harness.js';
import { setEndpoints, SpeakerProcess, speakerConfigYaml } from './speaker-process.js';

type Pools = Parameters<typeof speakerConfigYaml>[1];

/** The hash and stale flag a daemon exports now. */
async function generation(p: HeraldProcess): Promise<{ hash: string | undefined; stale: number }> {
  const text = await (await fetch(`${await p.metricsUrl()}/metrics`)).text();
  const hash = /^herald_config_generation\{hash="([0-9a-f]+)"\} \d+$/m.exec(text)?.[1];
  const stale = Number(/^herald_config_stale (\d+)$/m.exec(text)?.[1]);
  return { hash, stale };
}

describe('one config truth across the controller and the speakers', () => {
  let kc: KubeConfig;
  let ns: string;
  let ctl: ControllerProcess;
  let speakers: SpeakerProcess[] = [];
  const daemons = (): HeraldProcess[] => [ctl, ...speakers];

  /** Applies the pools as the ConfigMap; returns the hash of the config it holds (as the API server stores it). */
  async function apply(pools: Pools): Promise<string> {
    kubectl(['apply', '-f', '-'], { input: speakerConfigYaml(ns, pools) });
    const cm = await kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({ namespace: ns, name: 'config' });
    return configHash(parseConfig(configMapText(cm)));
  }

  /** Every daemon runs `hash` (and is stale or not, as given). */
  async function allRun(hash: string, stale: 0 | 1, what: string): Promise<void> {
    let last: unknown;
    await waitFor(
      `${what}: every daemon runs config ${hash} (stale ${stale})`,
      async () => {
        const g = await Promise.all(daemons().map(generation));
        last = g;
        return g.every((x) => x.hash === hash && x.stale === stale);
      },
      30_000,
    ).catch((e: Error) => {
      throw new Error(`${e.message}; last ${JSON.stringify(last)}`);
    });
  }

  const base: Pools = { l2: { protocol: 'layer2', addresses: ['192.0.2.0/24'] }, routed: { protocol: 'bgp', addresses: ['198.51.100.0/24'] } };

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await freshNamespace('truth');
    await apply(base);
    ctl = new ControllerProcess({ kubeconfig: kubeconfigPath(), namespace: ns });
    speakers = ['a', 'b'].map((x) => new SpeakerProcess({ kubeconfig: kubeconfigPath(), node: `${ns}-${x}`, namespace: ns }));
    await ctl.leading(60_000);
    for (const [name, pool] of [['web', undefined], ['bgp-web', 'routed']] as const) {
      const annotations = pool ? { 'metallb.universe.tf/address-pool': pool } : {};
      kubectl(['apply', '-f', '-'], {
        input: JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns, annotations }, spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ port: 80, protocol: 'TCP' }] } }),
      });
      await setEndpoints(kc, ns, name, [{ node: 'elsewhere', ready: true }]);
    }
    const core = kc.makeApiClient(CoreV1Api);
    await waitFor('both Services hold an address', async () => (await Promise.all(['web', 'bgp-web'].map(async (name) => ingressOf(await core.readNamespacedService({ namespace: ns, name }))))).every((ips) => ips.length === 1));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(daemons().map((d) => d?.kill('SIGKILL')));
  });

  it('starts on one generation; a protocol change while every speaker announces a VIP of that pool is accepted everywhere', async () => {
    const h1 = configHash(parseConfig(configMapText(await kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({ namespace: ns, name: 'config' }))));
    await allRun(h1, 0, 'start');
    const key = `${ns}/bgp-web`;
    // Cluster policy: every speaker advertises the bgp VIP.
    for (const s of speakers) await waitFor(`${s.node} advertises ${key} by bgp`, () => s.announced('bgp').has(key));
    // The protocol change, and another change in the same apply (a new pool).
    const h2 = await apply({ ...base, routed: { protocol: 'layer2', addresses: ['198.51.100.0/24'] }, spare: { protocol: 'layer2', addresses: ['203.0.113.0/28'] } });
    await allRun(h2, 0, 'protocol change');
    for (const s of speakers) await waitFor(`${s.node} withdrew ${key} from bgp`, () => !s.announced('bgp').has(key));
    await waitFor(`one layer2 owner of ${key}`, () => speakers.filter((s) => s.announced('layer2').has(key)).length === 1);
    for (const d of daemons()) {
      const line = await d.waitForLog('configLoaded with the hash', (l) => l.event === 'configLoaded' && (l as { config?: string }).config === h2);
      expect(String(line.msg)).toContain(h2);
    }
  });

  it('breaking and invalid changes are refused by every daemon, which keep the same generation; a refusal lifts everywhere once the Service it breaks is gone', async () => {
    const kept = (await generation(ctl)).hash as string;
    const since = Date.now();
    const withoutL2: Pools = { routed: { protocol: 'layer2', addresses: ['198.51.100.0/24'] }, spare: { protocol: 'layer2', addresses: ['203.0.113.0/28'] } };
    const h3 = await apply(withoutL2);
    await allRun(kept, 1, 'breaking change');
    for (const d of daemons()) {
      const line = await d.waitForLog('configRefused', (l) => l.event === 'configRefused' && Date.parse(String(l.time)) >= since - 1000);
      expect(line).toMatchObject({ service: `${ns}/web`, config: kept });
      expect(String(line.msg)).toContain(`config ${h3} refused`);
    }
    expect((await eventNotes(kc, ns, 'config', 'ConfigRefused')).some((n) => n.includes(`${ns}/web `))).toBe(true);
    kubectl(['apply', '-f', '-'], { input: `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\n  namespace: ${ns}\ndata:\n  config: |\n    address-pools: [\n` });
    await Promise.all(daemons().map((d) => d.waitForLog('configInvalid', (l) => l.event === 'configInvalid' && (l as { config?: string }).config === kept)));
    await allRun(kept, 1, 'invalid change');
    // The breaking config again, then the Service it breaks goes: every daemon re-checks and accepts it.
    await apply(withoutL2);
    await allRun(kept, 1, 'breaking change again');
    kubectl(['delete', 'svc', 'web', '-n', ns]);
    await allRun(h3, 0, 'after the Service was deleted');
  });

  it('a restarted speaker comes back on the same generation', async () => {
    const hash = (await generation(ctl)).hash as string;
    const old = speakers[1];
    await old.kill('SIGKILL');
    speakers[1] = new SpeakerProcess({ kubeconfig: kubeconfigPath(), node: old.node, namespace: ns });
    await allRun(hash, 0, 'speaker restart');
  });
});
