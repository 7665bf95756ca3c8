// Status for operators on a real API server (a controller and two speakers as processes, configured by
// metallb.io objects): each daemon's ConfigurationState says Valid with the config in force, a
// breaking change makes it Invalid / ConfigRefused naming the Service, still so after a controller
// restart; Valid again once fixed; and a restart that reaches the same verdict writes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControllerProcess } from './controller-process.js';
import { installCrds } from './crd-objects.js';
import { freshNamespace, kubeconfigPath, kubectl, waitFor } from './harness.js';
import { SpeakerProcess } from './speaker-process.js';

interface Condition { type: string; status: string; reason: string; message: string; lastTransitionTime: string }
interface StateObject { metadata: { resourceVersion: string; labels?: Record<string, string> }; status?: { result?: string; lastError?: string; configHash?: string; conditions?: Condition[] } }

const pool = (ns: string, name: string, addresses: string[]): string =>
  JSON.stringify({ apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name, namespace: ns }, spec: { addresses } });
const objects = (ns: string): string =>
  [
    pool(ns, 'front', ['192.0.2.0/28']),
    JSON.stringify({ apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'l2', namespace: ns }, spec: { ipAddressPools: ['front'] } }),
  ].join('\n');

/** The ConfigurationState `name`, or undefined while it does not exist. */
function state(ns: string, name: string): StateObject | undefined {
  try {
    return JSON.parse(kubectl(['get', '-n', ns, 'configurationstates.metallb.io', name, '-o', 'json'])) as StateObject;
  } catch {
    return undefined;
  }
}

describe('status for operators: ConfigurationState', () => {
  let ns: string;
  let ctl: ControllerProcess;
  let speakers: SpeakerProcess[];
  const startController = (): ControllerProcess => new ControllerProcess({ kubeconfig: kubeconfigPath(), namespace: ns, extraArgs: ['--config-source', 'crds'] });

  beforeAll(async () => {
    await installCrds();
    ns = await freshNamespace('crstatus');
    kubectl(['apply', '-f', '-'], { input: objects(ns) });
    ctl = startController();
    speakers = ['a', 'b'].map((n) => new SpeakerProcess({ kubeconfig: kubeconfigPath(), node: `${ns}-${n}`, namespace: ns, extraArgs: ['--config-source', 'crds'] }));
    await ctl.leading(60_000);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([ctl?.kill('SIGKILL'), ...(speakers ?? []).map((s) => s.kill('SIGKILL'))]);
  });

  it('each daemon\'s ConfigurationState is Valid with the config in force (MetalLB\'s names and labels)', async () => {
    const loaded = await ctl.waitForLog('config loaded', (l) => l.event === 'configLoaded', 60_000);
    const hash = String(loaded.config);
    for (const name of ['controller', ...speakers.map((s) => `speaker-${s.node}`)]) {
      const s = await waitFor(`ConfigurationState ${name} Valid`, () => {
        const got = state(ns, name);
        return got?.status?.result === 'Valid' && got.status.configHash === hash ? got : undefined;
      }, 60_000);
      expect(s.status?.conditions).toEqual([expect.objectContaining({ type: 'Loaded', status: 'True', reason: 'ConfigLoaded' })]);
      expect(s.status?.lastError ?? '').toBe('');
    }
    expect(state(ns, `speaker-${speakers[0].node}`)?.metadata.labels).toEqual({ 'metallb.io/component-type': 'speaker', 'metallb.io/node-name': speakers[0].node });
    expect(state(ns, 'controller')?.metadata.labels).toEqual({ 'metallb.io/component-type': 'controller' });
    // What an operator types: the printer columns show the result and the hash.
    expect(kubectl(['get', '-n', ns, 'configurationstates'])).toMatch(new RegExp(`controller\\s+Valid\\s+${hash}`));
  }, 120_000);

  it('a breaking change: Invalid / ConfigRefused naming the Service, also after a controller restart; Valid once fixed; a restart with the same verdict writes nothing', async () => {
    kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: ns }, spec: { type: 'LoadBalancer', ports: [{ port: 80, protocol: 'TCP' }] } }),
    });
    const held = await ctl.waitForLog('web gets an address', (l) => l.event === 'ipAllocated' && l.service === `${ns}/web`, 60_000);
    kubectl(['apply', '-f', '-'], { input: pool(ns, 'front', ['198.51.100.0/28']) });
    await ctl.waitForLog('breaking change refused', (l) => l.event === 'configRefused' && l.service === `${ns}/web`, 60_000);
    for (const name of ['controller', `speaker-${speakers[0].node}`]) {
      const s = await waitFor(`ConfigurationState ${name} Invalid`, () => {
        const got = state(ns, name);
        return got?.status?.result === 'Invalid' ? got : undefined;
      }, 60_000);
      expect(s.status?.conditions?.[0]).toMatchObject({ type: 'Loaded', status: 'False', reason: 'ConfigRefused' });
      expect(s.status?.lastError).toContain(`${ns}/web ${String(held.ip)}`);
      expect(s.status?.lastError).toContain('stays in force');
    }

    // A new controller reaches the same verdict from the Services' statuses (with no config in force:
    // the config is not persisted, README) and says so.
    await ctl.kill('SIGKILL');
    ctl = startController();
    await ctl.leading(60_000);
    await ctl.waitForLog('the refusal holds after the restart', (l) => l.event === 'configRefused' && l.service === `${ns}/web`, 60_000);
    await ctl.waitForLog('ConfigurationState after the restart', (l) => l.event === 'configurationState' && String(l.reason).startsWith('Invalid ConfigRefused'), 60_000);
    expect(state(ns, 'controller')?.status?.lastError).toContain(`${ns}/web ${String(held.ip)}`);

    kubectl(['apply', '-f', '-'], { input: pool(ns, 'front', ['192.0.2.0/28', '198.51.100.0/28']) });
    for (const name of ['controller', `speaker-${speakers[1].node}`]) {
      await waitFor(`ConfigurationState ${name} Valid again`, () => state(ns, name)?.status?.result === 'Valid', 60_000);
    }
    expect(state(ns, 'controller')?.status?.conditions?.[0]).toMatchObject({ status: 'True', reason: 'ConfigLoaded' });

    // A restart with the same verdict finds the state stored and writes nothing.
    const before = state(ns, 'controller');
    await ctl.kill('SIGKILL');
    ctl = startController();
    await ctl.leading(60_000);
    const synced = await ctl.waitForLog('ConfigurationState checked after the restart', (l) => l.event === 'configurationState', 60_000);
    expect(synced.reason).toBe('Valid ConfigLoaded: already stored');
    expect(state(ns, 'controller')?.metadata.resourceVersion).toBe(before?.metadata.resourceVersion);
  }, 240_000);
});
