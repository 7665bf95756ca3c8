// kubectl against the test cluster: the seeds' ConfigMaps and a LoadBalancer Service apply, and a
// status patch through the status subresource reaches our informer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { serviceInformer } from '../../kube/informers.js';
import { freshNamespace, kubeConfig, kubectl, waitFor } from './harness.js';

const SEEDS = join(import.meta.dirname, '..', 'fixtures', 'config', 'seeds');

/** ConfigMap documents of every seed file, moved into namespace `ns`. */
function seedConfigMaps(ns: string): { file: string; doc: { metadata: { name: string; namespace?: string }; data: Record<string, string> } }[] {
  const out: { file: string; doc: { metadata: { name: string; namespace?: string }; data: Record<string, string> } }[] = [];
  for (const file of readdirSync(SEEDS).filter((f) => f.endsWith('.yaml')).sort()) {
    for (const doc of yaml.loadAll(readFileSync(join(SEEDS, file), 'utf8'))) {
      const d = doc as { kind?: string; metadata?: { name: string; namespace?: string }; data?: Record<string, string> } | null;
      if (d?.kind !== 'ConfigMap' || !d.metadata || !d.data) continue;
      out.push({ file, doc: { ...d, metadata: { ...d.metadata, namespace: ns }, data: d.data } });
    }
  }
  return out;
}

describe('kubectl', () => {
  let kc: KubeConfig;
  let ns: string;
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await freshNamespace('kubectl');
  });
  afterAll(async () => {
    await Promise.all(stops.map((s) => s()));
  });

  it('applies the seeds ConfigMaps', async () => {
    const seeds = seedConfigMaps(ns);
    expect(seeds.length).toBeGreaterThanOrEqual(3);
    for (const { file, doc } of seeds) {
      const out = kubectl(['apply', '-n', ns, '-f', '-'], { input: yaml.dump(doc) });
      expect(out, file).toMatch(/configmap\/\S+ (created|configured|unchanged)/);
      const stored = await kc.makeApiClient(CoreV1Api).readNamespacedConfigMap({ namespace: ns, name: doc.metadata.name });
      expect(stored.data, file).toEqual(doc.data);
    }
  });

  it('applies a LoadBalancer Service; a status patch via --subresource=status reaches the informer', async () => {
    const inf = serviceInformer(kc, { namespace: ns });
    stops.push(() => inf.stop());
    await inf.start();
    kubectl(['apply', '-n', ns, '-f', '-'], {
      input: [
        'apiVersion: v1',
        'kind: Service',
        'metadata:',
        '  name: web',
        'spec:',
        '  type: LoadBalancer',
        '  selector: {app: web}',
        '  ports:',
        '  - port: 80',
        '    targetPort: 8080',
      ].join('\n'),
    });
    await waitFor('service in informer', () => inf.get(`${ns}/web`));
    expect(inf.get(`${ns}/web`)?.spec?.clusterIP).toMatch(/^10\.96\./);
    kubectl(['patch', '-n', ns, 'service', 'web', '--subresource=status', '--type=merge', '-p', '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.10"}]}}}']);
    const ip = await waitFor('status in informer', () => inf.get(`${ns}/web`)?.status?.loadBalancer?.ingress?.[0]?.ip);
    expect(ip).toBe('192.0.2.10');
  });

  it('serves dual-stack Services', () => {
    const out = kubectl(['create', '-n', ns, '-f', '-', '-o', 'jsonpath={.spec.clusterIPs}'], {
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'dual' },
        spec: { type: 'LoadBalancer', ipFamilyPolicy: 'RequireDualStack', ports: [{ port: 80 }] },
      }),
    });
    const ips = JSON.parse(out) as string[];
    expect(ips).toHaveLength(2);
    expect(ips[1]).toMatch(/^fd00:10:96::/);
  });
});
