// IPAddressPool status (MetalLB v0.14+'s assignedIPv4/IPv6, availableIPv4/IPv6) on a real API server:
// the leading controller (--config-source crds) writes the counts through the status subresource,
// kubectl sees them follow Services getting and releasing addresses, an allocation burst is coalesced
// (at most one write per pool per second, read from the controller's own log times), and a restarted
// controller writes nothing while the counts it finds are right.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { ControllerProcess, createServices, ingressOf, type LogLine } from './controller-process.js';
import { installCrds } from './crd-objects.js';
import { freshNamespace, kubeConfig, kubeconfigPath, kubectl, waitFor } from './harness.js';

const pool = (ns: string): string =>
  JSON.stringify({ apiVersion: 'metallb.io/v1beta1', kind: 'IPAddressPool', metadata: { name: 'front', namespace: ns }, spec: { addresses: ['192.0.2.0/28', '2001:db8::/124'] } });
const l2 = (ns: string): string => JSON.stringify({ apiVersion: 'metallb.io/v1beta1', kind: 'L2Advertisement', metadata: { name: 'l2', namespace: ns }, spec: { ipAddressPools: ['front'] } });

interface Counts {
  assignedIPv4?: number;
  assignedIPv6?: number;
  availableIPv4?: number;
  availableIPv6?: number;
}

/** The pool's status as kubectl prints it. */
function status(ns: string): Counts {
  const out = kubectl(['get', '-n', ns, 'ipaddresspool', 'front', '-o', 'jsonpath={.status}']);
  return out ? (JSON.parse(out) as Counts) : {};
}

const written = (ctl: ControllerProcess): LogLine[] => ctl.lines.filter((l) => l.event === 'poolStatusWritten' && l.pool === 'front');
const timeOf = (l: LogLine): number => Date.parse(String(l.time));

describe('IPAddressPool status: the counts the leader writes', () => {
  let kc: KubeConfig;
  let ns: string;
  let ctl: ControllerProcess;
  const startController = (): ControllerProcess =>
    new ControllerProcess({ kubeconfig: kubeconfigPath(), namespace: ns, logLevel: 'debug', extraArgs: ['--config-source', 'crds'] });

  beforeAll(async () => {
    kc = kubeConfig();
    await installCrds();
    ns = await freshNamespace('poolst');
    kubectl(['apply', '-f', '-'], { input: `${pool(ns)}\n${l2(ns)}` });
    ctl = startController();
    await ctl.leading(60_000);
  }, 120_000);

  afterAll(async () => {
    await ctl?.kill('SIGKILL');
  });

  it('kubectl sees the counts follow Services getting and releasing addresses; a burst is coalesced', async () => {
    await ctl.waitForLog('config loaded', (l) => l.event === 'configLoaded', 60_000);
    const empty = await waitFor('the pool shows its counts', () => {
      const s = status(ns);
      return s.availableIPv4 !== undefined ? s : undefined;
    }, 30_000);
    expect(empty.assignedIPv4).toBe(0);
    expect(empty.assignedIPv6).toBe(0);
    expect(empty.availableIPv6).toBe(16);
    const total = empty.availableIPv4 ?? 0;
    expect(total).toBeGreaterThanOrEqual(12);

    await createServices(kc, ns, 'svc', 12);
    const full = await waitFor('12 assigned', () => {
      const s = status(ns);
      return s.assignedIPv4 === 12 ? s : undefined;
    }, 60_000);
    expect(full).toEqual({ assignedIPv4: 12, assignedIPv6: 0, availableIPv4: total - 12, availableIPv6: 16 });
    const core = kc.makeApiClient(CoreV1Api);
    const held = await Promise.all(Array.from({ length: 12 }, async (_, i) => ingressOf(await core.readNamespacedService({ namespace: ns, name: `svc-${i}` }))));
    expect(held.every((ips) => ips.length === 1)).toBe(true);

    // Coalesced: the flushes are paced one per second, however many allocations came meanwhile.
    const writes = written(ctl);
    const allocations = ctl.lines.filter((l) => l.event === 'ipAllocated');
    expect(allocations).toHaveLength(12);
    const spanMs = timeOf(writes[writes.length - 1]) - timeOf(writes[0]);
    expect(writes.length).toBeLessThanOrEqual(Math.floor(spanMs / 1000) + 2);
    expect(writes.length).toBeLessThan(1 + 12);

    for (let i = 0; i < 5; i++) kubectl(['delete', '-n', ns, 'service', `svc-${i}`, '--wait=false']);
    await waitFor('7 assigned after 5 releases', () => {
      const s = status(ns);
      return s.assignedIPv4 === 7 && s.availableIPv4 === total - 7 ? s : undefined;
    }, 60_000);
  }, 180_000);

  it('a restarted controller writes nothing while the counts are right, then writes the next change', async () => {
    await ctl.kill('SIGKILL');
    ctl = startController();
    await ctl.leading(60_000);
    await ctl.waitForLog('config loaded after the restart', (l) => l.event === 'configLoaded', 60_000);
    await createServices(kc, ns, 'late', 1);
    const next = await ctl.waitForLog('the next change written', (l) => l.event === 'poolStatusWritten' && l.pool === 'front', 60_000);
    // The first write of the new leader is the new count: the 7 it found stored were not written again.
    expect(next.reason).toContain('assignedIPv4 8,');
    expect(written(ctl)).toHaveLength(1);
    await waitFor('kubectl sees 8', () => status(ns).assignedIPv4 === 8, 30_000);
  }, 180_000);
});
