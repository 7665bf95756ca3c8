// The chart through the real helm (v4) against the real kube-apiserver 1.20: `helm install`
// creates every object (the PodDisruptionBudget as policy/v1beta1, chosen from the server's
// version), NOTES.txt asks for the Pod Security label when the namespace lacks it, `helm upgrade`
// changes the speaker DaemonSet and refuses values the schema refuses, `helm uninstall` removes
// everything; namespaceObject labels the release namespace and keeps it. No kubelet runs here: the
// pods themselves are the real-cluster lab's business.
import { describe, expect, it } from 'vitest';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { helm } from '../tools/helm.js';
import { installCrds } from './crd-objects.js';
import { freshNamespace, kubeconfigPath, kubectl, uniqueName } from './harness.js';

const chartDir = join(dirname(fileURLToPath(import.meta.url)), '../../charts/herald');
const CONFIG = '{"address-pools":[{"name":"default","protocol":"layer2","addresses":["192.0.2.240/28"]}]}';

async function helmOk(args: string[]): Promise<string> {
  const r = await helm([...args, '--kubeconfig', kubeconfigPath()]);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

function get<T>(args: string[]): T {
  return JSON.parse(kubectl(['get', ...args, '-o', 'json'])) as T;
}

type Items = { items: { metadata: { name: string } }[] };
type DaemonSet = { metadata: { generation: number }; spec: { template: { spec: { containers: { args: string[] }[] } } } };

describe('helm against kube-apiserver 1.20', () => {
  it('installs, upgrades (speaker DaemonSet rolls), refuses a bad upgrade, uninstalls', async () => {
    // The CRDs already there from a kubectl apply (as other files and many users have them): helm v4
    // applies crds/ server-side and must find nothing in conflict (it did: an empty properties map).
    await installCrds();
    const ns = await freshNamespace('helm');
    const rel = uniqueName('hr');
    const sel = `app.kubernetes.io/instance=${rel}`;
    const out = await helmOk(['install', rel, chartDir, '-n', ns, '--set-json', `configInline=${CONFIG}`]);
    expect(out).toMatch(/STATUS: deployed/);
    expect(out).toMatch(new RegExp(`kubectl label namespace ${ns} pod-security.kubernetes.io/enforce=privileged`));

    const pdb = get<{ apiVersion: string; spec: { minAvailable: number } }>(['poddisruptionbudgets.v1beta1.policy', `${rel}-controller`, '-n', ns]);
    expect(pdb.spec.minAvailable).toBe(1);
    const names = (kind: string, namespaced = true): string[] =>
      get<Items>([kind, '-l', sel, ...(namespaced ? ['-n', ns] : [])]).items.map((i) => i.metadata.name).sort();
    expect(names('deployments')).toEqual([`${rel}-controller`]);
    expect(names('daemonsets')).toEqual([`${rel}-speaker`]);
    expect(names('serviceaccounts')).toEqual([`${rel}-controller`, `${rel}-speaker`]);
    expect(names('clusterroles', false)).toEqual([`${rel}-controller`, `${rel}-speaker`]);
    expect(names('configmaps')).toEqual([`${rel}-config`]);
    const cm = get<{ data: { config: string } }>(['configmap', `${rel}-config`, '-n', ns]);
    expect(cm.data.config).toContain('192.0.2.240/28');

    const before = get<DaemonSet>(['daemonset', `${rel}-speaker`, '-n', ns]);
    await helmOk(['upgrade', rel, chartDir, '-n', ns, '--reuse-values', '--set', 'speaker.leaseRenew=500ms', '--set', 'speaker.leaseDuration=2s']);
    const after = get<DaemonSet>(['daemonset', `${rel}-speaker`, '-n', ns]);
    expect(after.metadata.generation).toBe(before.metadata.generation + 1);
    expect(after.spec.template.spec.containers[0].args).toEqual(expect.arrayContaining(['--lease-renew=500ms', '--lease-duration=2s']));

    const bad = await helm(['upgrade', rel, chartDir, '-n', ns, '--reuse-values', '--set', 'speaker.leaseRenew=often', '--kubeconfig', kubeconfigPath()]);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("at '/speaker/leaseRenew'");
    expect(get<DaemonSet>(['daemonset', `${rel}-speaker`, '-n', ns]).metadata.generation).toBe(after.metadata.generation);
    expect(await helmOk(['history', rel, '-n', ns, '-o', 'json'])).toMatch(/"revision":2,.*"status":"deployed"/);

    await helmOk(['uninstall', rel, '-n', ns, '--wait']);
    expect(names('deployments')).toEqual([]);
    expect(names('daemonsets')).toEqual([]);
    expect(names('clusterroles', false)).toEqual([]);
    expect(names('poddisruptionbudgets')).toEqual([]);
  });

  it('NOTES.txt leaves out the Pod Security hint when the namespace already has the label', async () => {
    const ns = await freshNamespace('helm-psa');
    kubectl(['label', 'namespace', ns, 'pod-security.kubernetes.io/enforce=privileged']);
    const out = await helmOk(['install', uniqueName('hr'), chartDir, '-n', ns, '--dry-run=server']);
    expect(out).toMatch(/Herald .* is installed in namespace/);
    expect(out).not.toMatch(/Pod Security/);
  });

  it('namespaceObject: --create-namespace, the namespace gets the Pod Security labels, and uninstall keeps it', async () => {
    const ns = uniqueName('helm-ns');
    const rel = uniqueName('hr');
    const out = await helmOk(['install', rel, chartDir, '-n', ns, '--create-namespace', '--set', 'namespaceObject=true']);
    expect(out).not.toMatch(/Pod Security/);
    const labels = (): Record<string, string> => get<{ metadata: { labels: Record<string, string> } }>(['namespace', ns]).metadata.labels;
    expect(labels()).toMatchObject({ 'pod-security.kubernetes.io/enforce': 'privileged', 'pod-security.kubernetes.io/warn': 'privileged' });
    await helmOk(['uninstall', rel, '-n', ns, '--wait']);
    expect(labels()['pod-security.kubernetes.io/enforce']).toBe('privileged');
    expect(get<Items>(['daemonsets', '-n', ns]).items).toEqual([]);
  });
});
