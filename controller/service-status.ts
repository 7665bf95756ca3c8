// What a Service's status says it holds, and the status that says it holds something else.
// Only `ip` entries are ours; hostname-only entries (another load balancer's) are ignored.
import type { V1Service, V1ServiceStatus } from '@kubernetes/client-node';
import type { StatusWrite } from '../kube/status.js';
import { canonicalIp } from '../allocator/ip.js';
import { ALLOCATED_FROM_POOL } from '../allocator/annotations.js';

/** The addresses in `status.loadBalancer.ingress`, canonical (unparsable ones are kept verbatim so they differ from any assignment). */
export function statusIps(svc: V1Service | undefined): string[] {
  const ingress = svc?.status?.loadBalancer?.ingress ?? [];
  const out: string[] = [];
  for (const entry of ingress) if (typeof entry.ip === 'string' && entry.ip !== '') out.push(canonicalIp(entry.ip) ?? entry.ip);
  return out;
}

/** Same addresses in the same order (order is the Service's family order, which clients read). */
export function sameIps(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((ip, i) => ip === b[i]);
}

/** The status announcing `ips` (none: an empty load balancer status), keeping the rest of the status. */
export function statusWithIps(svc: V1Service, ips: readonly string[]): V1ServiceStatus {
  const loadBalancer = ips.length === 0 ? {} : { ingress: ips.map((ip) => ({ ip })) };
  return { ...svc.status, loadBalancer };
}

/**
 * The merge patch that makes `metallb.io/ip-allocated-from-pool` say `pool` (undefined: the Service holds
 * nothing, so the annotation goes), or undefined when it already does: a Service whose annotation is
 * right costs no write, at steady state as after a restart.
 */
export function poolAnnotationPatch(svc: V1Service, pool: string | undefined): Record<string, string | null> | undefined {
  const current = svc.metadata?.annotations?.[ALLOCATED_FROM_POOL];
  if (current === pool) return undefined;
  return { [ALLOCATED_FROM_POOL]: pool ?? null };
}

/** What a Service should show: `ips` in its status (absent: the status is not ours to change), and `pool` in the pool annotation (absent: left as it is; `pool: undefined` removes it). */
export interface ServiceWant {
  ips?: readonly string[];
  annotate?: { pool: string | undefined };
}

/**
 * The one status write that makes `svc` show `want` (the pool annotation in the same request), or
 * undefined when it already does. A write for the annotation alone keeps the status as it is (so a
 * hostname entry of another load balancer is never dropped for it).
 */
export function serviceWrite(svc: V1Service, want: ServiceWant): StatusWrite | undefined {
  const ips = want.ips !== undefined && !sameIps(statusIps(svc), want.ips) ? want.ips : undefined;
  const annotations = want.annotate && poolAnnotationPatch(svc, want.annotate.pool);
  if (ips === undefined && !annotations) return undefined;
  return { status: ips !== undefined ? statusWithIps(svc, ips) : (svc.status ?? {}), ...(annotations ? { annotations } : {}) };
}
