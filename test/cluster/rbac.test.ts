// The test cluster enforces RBAC, and harness.serviceAccountKubeConfig gives a real SA identity.
import { describe, expect, it } from 'vitest';
import { CoreV1Api, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { errorStatus } from '../../kube/request.js';
import { freshNamespace, kubeConfig, serviceAccountKubeConfig } from './harness.js';

describe('RBAC', () => {
  it('a ServiceAccount can do what its Role allows and nothing else', async () => {
    const admin = kubeConfig();
    const ns = await freshNamespace('rbac');
    const sa = await serviceAccountKubeConfig(ns, 'speaker', admin);
    const core = sa.makeApiClient(CoreV1Api);
    const denied = await core.listNamespacedService({ namespace: ns }).then(
      () => 0,
      (e: unknown) => errorStatus(e),
    );
    expect(denied).toBe(403);
    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: { metadata: { name: 'read-services' }, rules: [{ apiGroups: [''], resources: ['services'], verbs: ['get', 'list', 'watch'] }] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: 'speaker-read-services' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-services' },
        subjects: [{ kind: 'ServiceAccount', name: 'speaker', namespace: ns }],
      },
    });
    const list = await core.listNamespacedService({ namespace: ns });
    expect(list.items).toEqual([]);
    const write = await core.createNamespacedService({ namespace: ns, body: { metadata: { name: 'x' }, spec: { ports: [{ port: 1 }] } } }).then(
      () => 0,
      (e: unknown) => errorStatus(e),
    );
    expect(write).toBe(403);
  });
});
