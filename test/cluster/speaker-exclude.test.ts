// node.kubernetes.io/exclude-from-external-load-balancers on real speaker processes (record
// announcer): labelling the layer2 owner's Node hands its VIP to the next speaker of the ranking and
// withdraws its BGP advertisements (nodeNotSelected); removing the label lets it announce again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { rankSpeakers } from '../../speaker/layer2-owner.js';
import { EXCLUDE_NODE_LABEL } from '../../speaker/node-exclusion.js';
import { freshNamespace, kubeConfig, kubeconfigPath, kubectl, waitFor } from './harness.js';
import { createServiceWithIps, setEndpoints, SpeakerProcess, speakerConfigYaml } from './speaker-process.js';

describe('speakers honour the exclude-from-external-load-balancers Node label', () => {
  let kc: KubeConfig;
  let ns: string;
  let nodes: string[];
  let speakers: SpeakerProcess[] = [];
  const vip = '192.0.2.40';
  const routed = '198.51.100.40';

  const owners = (): string[] => speakers.filter((s) => s.announced('layer2').has(`${ns}/l2`)).map((s) => s.node);
  const label = (node: string, value: string | null): void => {
    kubectl(['label', 'node', node, '--overwrite', value === null ? `${EXCLUDE_NODE_LABEL}-` : `${EXCLUDE_NODE_LABEL}=${value}`]);
  };

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await freshNamespace('exclude');
    nodes = ['a', 'b'].map((x) => `${ns}-${x}`);
    const core = kc.makeApiClient(CoreV1Api);
    for (const name of nodes) await core.createNode({ body: { metadata: { name, labels: { 'kubernetes.io/hostname': name } } } });
    kubectl(['apply', '-f', '-'], { input: speakerConfigYaml(ns, { l2: { protocol: 'layer2', addresses: ['192.0.2.0/24'] }, b: { protocol: 'bgp', addresses: ['198.51.100.0/24'] } }) });
    await createServiceWithIps(kc, ns, 'l2', [vip]);
    await createServiceWithIps(kc, ns, 'bgp', [routed]);
    for (const svc of ['l2', 'bgp']) await setEndpoints(kc, ns, svc, [{ node: 'elsewhere', ready: true }]);
    speakers = nodes.map((node) => new SpeakerProcess({ kubeconfig: kubeconfigPath(), node, namespace: ns }));
    await Promise.all(speakers.map((s) => Promise.all(nodes.map((n) => s.waitForLog(`${n} live`, (l) => l.event === 'speakerLive' && l.reason === `${n}: renewed`, 60_000)))));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(speakers.map((s) => s.kill('SIGKILL')));
    const core = kc.makeApiClient(CoreV1Api);
    for (const name of nodes ?? []) await core.deleteNode({ name }).catch(() => undefined);
  });

  it('an excluded node announces nothing; the next speaker of the ranking owns its layer2 VIP', async () => {
    const [first, second] = rankSpeakers(nodes, vip);
    await waitFor('the first of the ranking owns the VIP', () => owners().join() === first);
    for (const s of speakers) await waitFor(`${s.node} advertises the bgp VIP`, () => s.announced('bgp').has(`${ns}/bgp`));
    const excluded = speakers.find((s) => s.node === first)!;
    label(first, '');
    await waitFor('the VIP moved to the second of the ranking', () => owners().join() === second, 30_000);
    await excluded.waitFor('bgp withdrawal nodeNotSelected', (r) => r.announcer === 'bgp' && r.op === 'deleteBalancer' && r.name === `${ns}/bgp` && r.reason === 'nodeNotSelected', 30_000);
    for (const s of speakers) await s.waitForLog(`${first} excluded`, (l) => l.event === 'nodeExcluded' && (l as { node?: string }).node === first);
    expect(speakers.find((s) => s.node === second)!.announced('bgp').has(`${ns}/bgp`)).toBe(true);

    label(first, null);
    await waitFor(`${first} advertises the bgp VIP again`, () => excluded.announced('bgp').has(`${ns}/bgp`), 30_000);
    // Both see it eligible again; exactly one owner (no flap back needed: either is fine, never two).
    await waitFor('one layer2 owner', () => owners().length === 1, 30_000);
  });
});
