// The three endpoints shapes give the consumer the same per-node readiness. Which EndpointSlice
// version a server offers depends on its release (v1beta1 only on 1.20, v1 from 1.21, only v1
// from 1.25): discovery must pick the best one, and the tests write slices in that version.
import { beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { discoverEndpointsApi, ServiceEndpointsInformer } from '../../kube/endpoints.js';
import { kubeRequest } from '../../kube/request.js';
import { endpointSlice, serverMinor, sliceApi, slicesPath, type SliceApi } from './endpoint-slices.js';
import { freshNamespace, kubeConfig, waitFor } from './harness.js';

describe('service endpoints per node', () => {
  let kc: KubeConfig;
  let ns: string;
  let api: SliceApi;

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await freshNamespace('eps');
    api = await sliceApi(kc);
  });

  it('discovers the best EndpointSlice version this server\'s release offers', async () => {
    const minor = await serverMinor(kc);
    expect(await discoverEndpointsApi(kc)).toBe(minor >= 21 ? 'discovery.k8s.io/v1' : 'discovery.k8s.io/v1beta1');
  });

  it('EndpointSlices and core Endpoints give the same per-node readiness, and follow changes', async () => {
    const slices = await ServiceEndpointsInformer.create(kc, { namespace: ns });
    const endpoints = await ServiceEndpointsInformer.create(kc, { namespace: ns, api: 'v1' });
    expect(slices.api).toBe(api);
    const changed: string[] = [];
    slices.on('change', (k) => changed.push(k));
    await Promise.all([slices.start(), endpoints.start()]);
    try {
      const key = `${ns}/web`;
      // What the endpoint controllers would write for three Pods: two on node-a (one not ready), one on node-b.
      // On v1beta1 node-a is named by topology (1.20's controller) and node-b by nodeName: both decode alike.
      await kubeRequest(kc, 'POST', slicesPath(api, ns), {
        body: endpointSlice(api, 'web-abc', 'web', [
          { ip: '192.0.2.11', ready: true, node: 'node-a', viaTopology: true },
          { ip: '192.0.2.12', ready: false, node: 'node-a', viaTopology: true },
          { ip: '192.0.2.21', ready: true, node: 'node-b' },
        ]),
      });
      await kc.makeApiClient(CoreV1Api).createNamespacedEndpoints({
        namespace: ns,
        body: {
          metadata: { name: 'web' },
          subsets: [
            {
              addresses: [{ ip: '192.0.2.11', nodeName: 'node-a' }, { ip: '192.0.2.21', nodeName: 'node-b' }],
              notReadyAddresses: [{ ip: '192.0.2.12', nodeName: 'node-a' }],
              ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
            },
          ],
        },
      });
      const want = new Map([
        ['node-a', 1],
        ['node-b', 1],
      ]);
      await waitFor('slice readiness', () => slices.readyByNode(key).size === 2);
      await waitFor('endpoints readiness', () => endpoints.readyByNode(key).size === 2);
      expect(slices.readyByNode(key)).toEqual(want);
      expect(endpoints.readyByNode(key)).toEqual(want);
      expect(changed).toContain(key);

      // node-b's endpoint goes unready in both shapes.
      await kubeRequest(kc, 'PATCH', `${slicesPath(api, ns)}/web-abc`, {
        contentType: 'application/json-patch+json',
        body: [{ op: 'replace', path: '/endpoints/2/conditions/ready', value: false }],
      });
      await kc.makeApiClient(CoreV1Api).replaceNamespacedEndpoints({
        namespace: ns,
        name: 'web',
        body: {
          metadata: { name: 'web' },
          subsets: [
            {
              addresses: [{ ip: '192.0.2.11', nodeName: 'node-a' }],
              notReadyAddresses: [{ ip: '192.0.2.12', nodeName: 'node-a' }, { ip: '192.0.2.21', nodeName: 'node-b' }],
              ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
            },
          ],
        },
      });
      await waitFor('slice update', () => slices.readyByNode(key).size === 1);
      await waitFor('endpoints update', () => endpoints.readyByNode(key).size === 1);
      expect(slices.readyByNode(key)).toEqual(endpoints.readyByNode(key));
      expect(slices.readyByNode(key)).toEqual(new Map([['node-a', 1]]));

      await kubeRequest(kc, 'DELETE', `${slicesPath(api, ns)}/web-abc`);
      await kc.makeApiClient(CoreV1Api).deleteNamespacedEndpoints({ namespace: ns, name: 'web' });
      await waitFor('slice delete', () => slices.readyByNode(key).size === 0);
      await waitFor('endpoints delete', () => endpoints.readyByNode(key).size === 0);
    } finally {
      await Promise.all([slices.stop(), endpoints.stop()]);
    }
  });

  it('a Service with several slices: readiness is their union, and follows each one', async () => {
    const slices = await ServiceEndpointsInformer.create(kc, { namespace: ns });
    await slices.start();
    const path = slicesPath(api, ns);
    const slice = (name: string, node: string, ip: string): Record<string, unknown> => endpointSlice(api, name, 'multi', [{ ip, ready: true, node, viaTopology: true }], []);
    try {
      const key = `${ns}/multi`;
      for (const [name, node, ip] of [['multi-a', 'node-a', '192.0.2.31'], ['multi-b', 'node-b', '192.0.2.32'], ['multi-c', 'node-c', '192.0.2.33']]) {
        await kubeRequest(kc, 'POST', path, { body: slice(name, node, ip) });
      }
      await waitFor('three slices', () => slices.readyByNode(key).size === 3);
      await kubeRequest(kc, 'DELETE', `${path}/multi-b`);
      await waitFor('two slices', () => slices.readyByNode(key).size === 2);
      await kubeRequest(kc, 'DELETE', `${path}/multi-a`);
      await waitFor('one slice', () => slices.readyByNode(key).size === 1);
      expect(slices.readyByNode(key)).toEqual(new Map([['node-c', 1]]));
      await kubeRequest(kc, 'POST', path, { body: slice('multi-a', 'node-a', '192.0.2.31') });
      await waitFor('two again', () => slices.readyByNode(key).size === 2);
      await kubeRequest(kc, 'DELETE', `${path}/multi-c`);
      await kubeRequest(kc, 'DELETE', `${path}/multi-a`);
      await waitFor('none', () => slices.readyByNode(key).size === 0);
    } finally {
      await slices.stop();
    }
  });
});
