// `herald controller` as a real process against the real API server: Service lifecycle (single
// and dual stack, requested IP, pool annotation, shared IP, release and reuse, clearing) and config
// refusal (breaking and invalid ConfigMaps are refused with Events; fixing the Services unblocks).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, type KubeConfig, type V1Service } from '@kubernetes/client-node';
import { configMapYaml, ControllerProcess, eventNotes, ingressOf, metricValue } from './controller-process.js';
import { freshNamespace, kubeConfig, kubeconfigPath, kubectl, waitFor } from './harness.js';

function serviceYaml(ns: string, name: string, opts: { annotations?: Record<string, string>; spec?: Record<string, unknown>; port?: number } = {}): string {
  const svc = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: ns, annotations: opts.annotations ?? {} },
    spec: { type: 'LoadBalancer', selector: { app: name }, ports: [{ port: opts.port ?? 80, protocol: 'TCP' }], ...opts.spec },
  };
  return JSON.stringify(svc);
}

async function ingress(kc: KubeConfig, ns: string, name: string): Promise<string[]> {
  return ingressOf(await kc.makeApiClient(CoreV1Api).readNamespacedService({ namespace: ns, name }));
}

/** Waits until the Service's status holds exactly `ips`. */
async function expectIngress(kc: KubeConfig, ns: string, name: string, ips: string[], timeoutMs = 20_000): Promise<void> {
  let last: string[] = [];
  await waitFor(
    `${ns}/${name} status ${JSON.stringify(ips)}`,
    async () => {
      last = await ingress(kc, ns, name);
      return JSON.stringify(last) === JSON.stringify(ips);
    },
    timeoutMs,
  ).catch((e: Error) => {
    throw new Error(`${e.message}; last status ${JSON.stringify(last)}`);
  });
}

async function waitEvent(kc: KubeConfig, ns: string, name: string, reason: string, match: (note: string) => boolean): Promise<string> {
  return waitFor(`${reason} event on ${name}`, async () => (await eventNotes(kc, ns, name, reason)).find(match));
}

describe('herald controller: Service lifecycle', () => {
  let kc: KubeConfig;
  let ns: string;
  let ctl: ControllerProcess;

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await freshNamespace('ctl-life');
    kubectl(['apply', '-f', '-'], {
      input: configMapYaml(ns, { default: ['192.0.2.0/28', '2001:db8::/124'], special: ['198.51.100.0/28'] }, { special: { 'auto-assign': false } }),
    });
    ctl = new ControllerProcess({ kubeconfig: kubeconfigPath(), namespace: ns });
    await ctl.leading();
    await ctl.waitForLog('config loaded', (l) => l.event === 'configLoaded');
  });

  afterAll(async () => {
    await ctl?.kill('SIGTERM');
    kubectl(['delete', 'svc', '--all', '-n', ns, '--wait=false']);
  });

  it('single-stack IPv4 and IPv6, dual-stack, requested IP, pool annotation, shared IP', async () => {
    kubectl(['apply', '-f', '-'], { input: serviceYaml(ns, 'v4') });
    await expectIngress(kc, ns, 'v4', ['192.0.2.0']);
    kubectl(['apply', '-f', '-'], { input: serviceYaml(ns, 'v6', { spec: { ipFamilyPolicy: 'SingleStack', ipFamilies: ['IPv6'] } }) });
    await expectIngress(kc, ns, 'v6', ['2001:db8::']);
    kubectl(['apply', '-f', '-'], { input: serviceYaml(ns, 'dual', { spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] } }) });
    await expectIngress(kc, ns, 'dual', ['2001:db8::1', '192.0.2.1']);
    kubectl(['apply', '-f', '-'], { input: serviceYaml(ns, 'requested', { spec: { loadBalancerIP: '192.0.2.10' } }) });
    await expectIngress(kc, ns, 'requested', ['192.0.2.10']);
    kubectl(['apply', '-f', '-'], { input: serviceYaml(ns, 'pooled', { annotations: { 'metallb.universe.tf/address-pool': 'special' } }) });
    await expectIngress(kc, ns, 'pooled', ['198.51.100.0']);
    const shared = { 'metallb.universe.tf/allow-shared-ip': 'web' };
    kubectl(['apply', '-f', '-'], { input: serviceYaml(ns, 'web-http', { annotations: shared, port: 80, spec: { selector: { app: 'web' } } }) });
    await expectIngress(kc, ns, 'web-http', ['192.0.2.2']);
    kubectl(['apply', '-f', '-'], { input: serviceYaml(ns, 'web-https', { annotations: shared, port: 443, spec: { selector: { app: 'web' } } }) });
    await expectIngress(kc, ns, 'web-https', ['192.0.2.2']);

    expect(await waitEvent(kc, ns, 'dual', 'IPAllocated', (n) => n.includes('2001:db8::1'))).toBe('Assigned IP ["2001:db8::1","192.0.2.1"] from pool "default"');
    const url = await ctl.metricsUrl();
    expect(await metricValue(url, 'herald_allocator_addresses_in_use_total', 'pool="special"')).toBe(1);
    expect(await metricValue(url, 'herald_config_loaded')).toBe(1);
    expect(await metricValue(url, 'herald_leader')).toBe(1);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
  });

  it('delete releases the address and it is reused; a requested-IP change moves the Service', async () => {
    kubectl(['delete', 'svc', '-n', ns, 'v4']);
    await ctl.waitForLog('release of v4', (l) => l.event === 'ipReleased' && l.service === `${ns}/v4`);
    kubectl(['apply', '-f', '-'], { input: serviceYaml(ns, 'again') });
    await expectIngress(kc, ns, 'again', ['192.0.2.0']);

    kubectl(['patch', 'svc', '-n', ns, 'requested', '--type=merge', '-p', JSON.stringify({ spec: { loadBalancerIP: '192.0.2.11' } })]);
    await expectIngress(kc, ns, 'requested', ['192.0.2.11']);
    // Outside every pool: the old address is cleared, the Service stays pending with a Warning.
    kubectl(['patch', 'svc', '-n', ns, 'requested', '--type=merge', '-p', JSON.stringify({ spec: { loadBalancerIP: '203.0.113.7' } })]);
    await expectIngress(kc, ns, 'requested', []);
    await waitEvent(kc, ns, 'requested', 'ClearAssignment', (n) => n.includes('192.0.2.11'));
    const failed = await waitEvent(kc, ns, 'requested', 'AllocationFailed', (n) => n.includes('203.0.113.7'));
    expect(failed).toContain('not in any address pool');
  });

  it('metallb.io/ annotations: the current name wins over metallb.universe.tf/, with an AnnotationConflict Event', async () => {
    const annotations = { 'metallb.io/address-pool': 'special', 'metallb.universe.tf/address-pool': 'default' };
    kubectl(['apply', '-f', '-'], { input: serviceYaml(ns, 'annotated', { annotations }) });
    await waitFor('an address from pool special', async () => (await ingress(kc, ns, 'annotated'))[0]?.startsWith('198.51.100.'));
    const note = await waitEvent(kc, ns, 'annotated', 'AnnotationConflict', () => true);
    expect(note).toBe('metallb.io/address-pool "special" is used, not metallb.universe.tf/address-pool "default": the current name wins when both are set, as in MetalLB (remove one to silence this)');
    await ctl.waitForLog('annotationConflict', (l) => l.event === 'annotationConflict' && l.service === `${ns}/annotated`);
    kubectl(['delete', 'svc', '-n', ns, 'annotated']);
  });

  it('a Service that stops being LoadBalancer is cleared; a pending one is served when its pool appears', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const svc: V1Service = await core.readNamespacedService({ namespace: ns, name: 'again' });
    svc.spec = { ...svc.spec, type: 'ClusterIP', ports: (svc.spec?.ports ?? []).map((p) => ({ ...p, nodePort: undefined })) };
    await core.replaceNamespacedService({ namespace: ns, name: 'again', body: svc });
    await expectIngress(kc, ns, 'again', []);
    expect(await waitEvent(kc, ns, 'again', 'ClearAssignment', () => true)).toContain('not LoadBalancer');

    kubectl(['apply', '-f', '-'], { input: serviceYaml(ns, 'later', { annotations: { 'metallb.universe.tf/address-pool': 'later' } }) });
    expect(await waitEvent(kc, ns, 'later', 'AllocationFailed', () => true)).toContain('"later" does not exist');
    kubectl(['apply', '-f', '-'], {
      input: configMapYaml(ns, { default: ['192.0.2.0/28', '2001:db8::/124'], special: ['198.51.100.0/28'], later: ['203.0.113.0/30'] }, { special: { 'auto-assign': false } }),
    });
    await expectIngress(kc, ns, 'later', ['203.0.113.0']);
    // The freed 192.0.2.0 goes to the next Service, nothing else moved.
    kubectl(['apply', '-f', '-'], { input: serviceYaml(ns, 'next') });
    await expectIngress(kc, ns, 'next', ['192.0.2.0']);
    expect(await ingress(kc, ns, 'dual')).toEqual(['2001:db8::1', '192.0.2.1']);
    expect(await ingress(kc, ns, 'web-https')).toEqual(['192.0.2.2']);
  });
});

describe('herald controller: config refusal', () => {
  let kc: KubeConfig;
  let ns: string;
  let ctl: ControllerProcess;
  const both = (ns: string): string => configMapYaml(ns, { a: ['192.0.2.0/29'], b: ['198.51.100.0/29'] });
  const onlyB = (ns: string): string => configMapYaml(ns, { b: ['198.51.100.0/29'] });

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await freshNamespace('ctl-refuse');
    kubectl(['apply', '-f', '-'], { input: both(ns) });
    ctl = new ControllerProcess({ kubeconfig: kubeconfigPath(), namespace: ns });
    await ctl.waitForLog('config loaded', (l) => l.event === 'configLoaded');
  });

  afterAll(async () => {
    await ctl?.kill('SIGTERM');
    kubectl(['delete', 'svc', '--all', '-n', ns, '--wait=false']);
  });

  it('removing a used pool is refused naming the Service; fixing the Service lets the same ConfigMap in', async () => {
    kubectl(['apply', '-f', '-'], { input: serviceYaml(ns, 's1') });
    await expectIngress(kc, ns, 's1', ['192.0.2.0']);
    const url = await ctl.metricsUrl();

    kubectl(['apply', '-f', '-'], { input: onlyB(ns) });
    const refused = await waitEvent(kc, ns, 'config', 'ConfigRefused', () => true);
    expect(refused).toContain(`${ns}/s1 192.0.2.0: 192.0.2.0 is in no pool of the new config`);
    await waitFor('config_stale 1', async () => (await metricValue(url, 'herald_config_stale')) === 1);
    expect(await metricValue(url, 'herald_config_loaded')).toBe(1);
    expect(await ingress(kc, ns, 's1')).toEqual(['192.0.2.0']);

    // Move s1 into pool b (allowed by the config in force): the refused ConfigMap now applies by itself.
    kubectl(['patch', 'svc', '-n', ns, 's1', '--type=merge', '-p', JSON.stringify({ spec: { loadBalancerIP: '198.51.100.3' } })]);
    await expectIngress(kc, ns, 's1', ['198.51.100.3']);
    await waitFor('config_stale 0', async () => (await metricValue(url, 'herald_config_stale')) === 0);
    await ctl.waitForLog('config reloaded', (l) => l.event === 'configLoaded' && /^config [0-9a-f]{12} reloaded$/.test(String(l.msg)));
    expect(await metricValue(url, 'herald_allocator_addresses_total', 'pool="a"')).toBeUndefined();
  });

  it('YAML garbage keeps the old config, with an Event carrying the parse error', async () => {
    const garbage = `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\n  namespace: ${ns}\ndata:\n  config: |\n    address-pools: [\n      - {name: x\n`;
    kubectl(['apply', '-f', '-'], { input: garbage });
    const note = await waitEvent(kc, ns, 'config', 'ConfigInvalid', () => true);
    expect(note).toMatch(/^config refused, invalid \(1 error\); keeping the config in force: data\.config: /);
    const url = await ctl.metricsUrl();
    await waitFor('config_stale 1', async () => (await metricValue(url, 'herald_config_stale')) === 1);
    // The old config (pool b) still allocates.
    kubectl(['apply', '-f', '-'], { input: serviceYaml(ns, 's2') });
    await expectIngress(kc, ns, 's2', ['198.51.100.0']);
    expect(await ingress(kc, ns, 's1')).toEqual(['198.51.100.3']);

    // Deleting the ConfigMap keeps the last config too.
    kubectl(['delete', 'configmap', '-n', ns, 'config']);
    await ctl.waitForLog('config missing', (l) => l.event === 'configMissing');
    kubectl(['apply', '-f', '-'], { input: serviceYaml(ns, 's3') });
    await expectIngress(kc, ns, 's3', ['198.51.100.1']);
    expect(await metricValue(url, 'herald_config_stale')).toBe(1);
  });
});

describe('herald controller: a dual-stack pair is one unit', () => {
  let kc: KubeConfig;
  let ns: string;
  let ctl: ControllerProcess;

  beforeAll(async () => {
    kc = kubeConfig();
    ns = await freshNamespace('ctl-pair');
    kubectl(['apply', '-f', '-'], { input: configMapYaml(ns, { ds: ['192.0.2.0/29', '2001:db8::/125'] }) });
    ctl = new ControllerProcess({ kubeconfig: kubeconfigPath(), namespace: ns });
    await ctl.waitForLog('config loaded', (l) => l.event === 'configLoaded');
  });

  afterAll(async () => {
    await ctl?.kill('SIGTERM');
    kubectl(['delete', 'svc', '--all', '-n', ns, '--wait=false']);
  });

  it('refuses a config that splits a held pair across two pools, though each address stays in a pool', async () => {
    kubectl(['apply', '-f', '-'], { input: serviceYaml(ns, 'pair', { spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] } }) });
    await expectIngress(kc, ns, 'pair', ['192.0.2.0', '2001:db8::']);
    kubectl(['apply', '-f', '-'], { input: configMapYaml(ns, { v4: ['192.0.2.0/29'], v6: ['2001:db8::/125'] }) });
    const refused = await waitEvent(kc, ns, 'config', 'ConfigRefused', () => true);
    expect(refused).toContain(`${ns}/pair 192.0.2.0: the dual-stack pair 192.0.2.0, 2001:db8:: would be split`);
    await waitFor('config_stale 1', async () => (await metricValue(await ctl.metricsUrl(), 'herald_config_stale')) === 1);
    expect(await ingress(kc, ns, 'pair')).toEqual(['192.0.2.0', '2001:db8::']);
  });
});
