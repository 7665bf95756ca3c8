// Status for operators on a real API server (a controller and two speakers as processes, configured by
// metallb.io objects): ServiceL2Status / ServiceBGPStatus objects appear for a layer2 and a BGP
// Service on the nodes announcing them, move when the announcement moves, are not rewritten by a
// restarted speaker (but the life on its layer2 object, once), and go with the Service; each daemon's ConfigurationState says Valid with the config in force, a
// breaking change makes it Invalid / ConfigRefused naming the Service, still so after a controller
// restart; Valid again once fixed; and a restart that reaches the same verdict writes nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControllerProcess } from './controller-process.js';
import { installCrds } from './crd-objects.js';
import { freshNamespace, kubeConfig, kubeconfigPath, kubectl, waitFor } from './harness.js';
import { setEndpoints, SpeakerProcess } from './speaker-process.js';

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

interface ServiceStatus { metadata: { name: string; resourceVersion: string; labels: Record<string, string>; annotations?: Record<string, string> }; status?: { node?: string; serviceName?: string; serviceNamespace?: string; interfaces?: { name: string }[]; peers?: string[] } }

/** The status objects of `kind` in `ns`, as node/service -> object. */
function statuses(ns: string, kind: 'servicel2statuses' | 'servicebgpstatuses'): Map<string, ServiceStatus> {
  const list = JSON.parse(kubectl(['get', '-n', ns, `${kind}.metallb.io`, '-o', 'json'])) as { items: ServiceStatus[] };
  return new Map(list.items.map((o) => [`${o.status?.node ?? '?'}:${o.status?.serviceNamespace ?? '?'}/${o.status?.serviceName ?? '?'}`, o]));
}
const keys = (m: Map<string, unknown>): string => [...m.keys()].sort().join(',');

describe('status for operators: ServiceL2Status and ServiceBGPStatus', () => {
  let ns: string;
  let ctl: ControllerProcess;
  let speakers: SpeakerProcess[];
  const startSpeaker = (n: string): SpeakerProcess => new SpeakerProcess({ kubeconfig: kubeconfigPath(), node: `${ns}-${n}`, namespace: ns, extraArgs: ['--config-source', 'crds', '--interface', `eth-${n}`] });

  beforeAll(async () => {
    await installCrds();
    ns = await freshNamespace('svcstatus');
    kubectl(['apply', '-f', '-'], {
      input: [
        objects(ns),
        pool(ns, 'routed', ['198.51.100.0/28']),
        JSON.stringify({ apiVersion: 'metallb.io/v1beta1', kind: 'BGPAdvertisement', metadata: { name: 'bgp', namespace: ns }, spec: { ipAddressPools: ['routed'] } }),
        JSON.stringify({ apiVersion: 'metallb.io/v1beta2', kind: 'BGPPeer', metadata: { name: 'tor', namespace: ns }, spec: { myASN: 64500, peerASN: 64501, peerAddress: '203.0.113.1' } }),
      ].join('\n'),
    });
    ctl = new ControllerProcess({ kubeconfig: kubeconfigPath(), namespace: ns, extraArgs: ['--config-source', 'crds'] });
    speakers = ['a', 'b'].map(startSpeaker);
    await ctl.leading(60_000);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([ctl?.kill('SIGKILL'), ...(speakers ?? []).map((s) => s.kill('SIGKILL'))]);
  });

  it('appear for a layer2 and a BGP Service where they are announced, move with the announcement, survive a speaker restart unwritten, and go with the Services', async () => {
    const [a, b] = speakers;
    const svc = (name: string, pool: string, local: boolean): string =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name, namespace: ns, annotations: { 'metallb.io/address-pool': pool } },
        spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ port: 80, protocol: 'TCP' }], ...(local ? { externalTrafficPolicy: 'Local' } : {}) },
      });
    kubectl(['apply', '-f', '-'], { input: `${svc('web', 'front', true)}\n${svc('api', 'routed', false)}` });
    const kc = kubeConfig();
    // web (layer2, Local): only node a has an endpoint, so only a announces it. api (BGP): both nodes.
    await setEndpoints(kc, ns, 'web', [{ node: a.node, ready: true }]);
    await setEndpoints(kc, ns, 'api', [{ node: a.node, ready: true }, { node: b.node, ready: true }]);
    await waitFor('a announces web by layer2', () => a.announced('layer2').has(`${ns}/web`), 60_000);
    const l2 = await waitFor('one ServiceL2Status, from node a', () => {
      const m = statuses(ns, 'servicel2statuses');
      return keys(m) === `${a.node}:${ns}/web` ? m : undefined;
    }, 60_000);
    const web = l2.get(`${a.node}:${ns}/web`);
    expect(web?.status).toEqual({ node: a.node, serviceName: 'web', serviceNamespace: ns, interfaces: [{ name: 'eth-a' }] });
    expect(web?.metadata.labels).toEqual({ 'metallb.io/node': a.node, 'metallb.io/service-name': 'web', 'metallb.io/service-namespace': ns });
    const bgp = await waitFor('a ServiceBGPStatus from each node', () => {
      const m = statuses(ns, 'servicebgpstatuses');
      return keys(m) === [`${a.node}:${ns}/api`, `${b.node}:${ns}/api`].sort().join(',') ? m : undefined;
    }, 60_000);
    for (const n of [a, b]) expect(bgp.get(`${n.node}:${ns}/api`)?.status).toEqual({ node: n.node, serviceName: 'api', serviceNamespace: ns, peers: ['203.0.113.1'] });
    // What an operator types.
    expect(kubectl(['get', 'servicel2statuses', '-A'])).toMatch(new RegExp(`${a.node}\\s+web\\s+${ns}\\s+eth-a`));
    expect(kubectl(['get', 'servicebgpstatuses', '-n', ns])).toMatch(new RegExp(`${b.node}\\s+api\\s+${ns}\\s+\\["203.0.113.1"\\]`));

    // The announcement moves: web's endpoint is now on node b only.
    await setEndpoints(kc, ns, 'web', [{ node: b.node, ready: true }]);
    await waitFor('b announces web', () => b.announced('layer2').has(`${ns}/web`), 60_000);
    const moved = await waitFor('the ServiceL2Status moved to node b', () => {
      const m = statuses(ns, 'servicel2statuses');
      return keys(m) === `${b.node}:${ns}/web` ? m : undefined;
    }, 60_000);
    expect(moved.get(`${b.node}:${ns}/web`)?.status?.interfaces).toEqual([{ name: 'eth-b' }]);

    // A restarted speaker b announces what it did and finds its objects stored: nothing rewritten but
    // the life on its layer2 object (once: what makes the object hold the Service in the new life).
    const before = new Map([...statuses(ns, 'servicel2statuses'), ...statuses(ns, 'servicebgpstatuses')].map(([k, o]) => [k, o.metadata.resourceVersion]));
    await b.kill('SIGKILL');
    const b2 = startSpeaker('b');
    speakers[1] = b2;
    const listed = await b2.waitForLog('b lists its status objects', (l) => l.event === 'serviceStatusListed', 60_000);
    expect(listed.reason).toBe('2 objects');
    await waitFor('b announces web again', () => b2.announced('layer2').has(`${ns}/web`), 60_000);
    await waitFor('b announces api again', () => b2.announced('bgp').has(`${ns}/api`), 60_000);
    const webKey = `${b.node}:${ns}/web`;
    const life = (): string => String(Date.parse(kubectl(['get', '-n', ns, 'lease', `herald-speaker-${b.node}`, '-o', 'jsonpath={.spec.acquireTime}'])));
    // The new life is written asynchronously: waited for (a fixed pause was a race on a loaded
    // machine), then a moment in which any other rewrite would show.
    await waitFor('b\'s layer2 object carrying its new life', () => statuses(ns, 'servicel2statuses').get(webKey)?.metadata.annotations?.['herald.io/speaker-life'] === life(), 60_000);
    await new Promise((r) => setTimeout(r, 2_000));
    const l2After = statuses(ns, 'servicel2statuses');
    const after = new Map([...l2After, ...statuses(ns, 'servicebgpstatuses')].map(([k, o]) => [k, o.metadata.resourceVersion]));
    const without = (m: Map<string, string>): Map<string, string> => new Map([...m].filter(([k]) => k !== webKey));
    expect(without(after)).toEqual(without(before));
    expect(l2After.get(webKey)?.metadata.annotations?.['herald.io/speaker-life']).toBe(life());
    expect(l2After.get(webKey)?.status?.interfaces).toEqual([{ name: 'eth-b' }]);
    expect(b2.logs.filter((l) => l.event === 'serviceStatusFailed')).toEqual([]);

    // The Services go: so do their status objects.
    kubectl(['delete', '-n', ns, 'service', 'web', 'api']);
    await waitFor('no ServiceL2Status left', () => statuses(ns, 'servicel2statuses').size === 0, 60_000);
    await waitFor('no ServiceBGPStatus left', () => statuses(ns, 'servicebgpstatuses').size === 0, 60_000);
  }, 300_000);
});
