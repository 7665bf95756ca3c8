// The decision for one Service: what it should hold, given the allocator and the Service as the
// informer sees it. Changes only the allocator (allocate / release); the caller writes the status
// and records the Events the decision names. No I/O, no clock: unit-testable as is.
import type { V1Service } from '@kubernetes/client-node';
import { AllocationError, type Allocator, type Assignment } from '../allocator/allocator.js';
import { serviceRequest, ServiceRequestError, whyNotHandled as whyNotHandledBy, type ServiceObject, type ServiceRequest } from '../allocator/service-request.js';
import type { Family } from '../config/model.js';
import { sameIps, statusIps } from './service-status.js';

export interface ReconcileOptions {
  /** Handle Services with this spec.loadBalancerClass; undefined: only Services without a class. */
  lbClass?: string;
  /** The labels of a Namespace, undefined when not known (IPAddressPool serviceAllocation.namespaceSelectors). */
  namespaceLabels?: (namespace: string) => Record<string, string> | undefined;
  /**
   * Requests restoreFromStatuses built, by Service object (a request is a function of the object, which
   * the informer never mutates): the first decide for that object takes its request from here instead
   * of building it again (half the request work of a restart), and removes it.
   */
  restored?: WeakMap<V1Service, ServiceRequest>;
}

/** The request of `svc`: restoreFromStatuses' (taken once) or a new one. */
function requestOf(svc: V1Service, labels: Record<string, string> | undefined, restored: WeakMap<V1Service, ServiceRequest> | undefined): ServiceRequest {
  const r = restored?.get(svc);
  if (!r) return serviceRequest(svc as ServiceObject, labels);
  restored!.delete(svc);
  if (labels !== undefined) r.namespaceLabels = labels;
  return r;
}

/**
 * Every decision says which addresses it `freed`: taken by the Service before, taken by nobody now.
 * An address a Service's status still shows is not free (Allocator.holdForeign keeps it, `clearing`
 * for ours) until the status write that clears it lands and its update is seen: handing it out
 * earlier would let two statuses show one address while the writes race.
 */
export type Decision =
  /**
   * Not ours and holding nothing of ours: leave it alone. A LoadBalancer of another class keeps the
   * addresses its status shows from being handed out (Allocator.holdForeign), `conflicts` when one of
   * our Services holds one of them too.
   */
  | { kind: 'ignore'; freed: string[]; conflicts?: { ip: string; holders: string[] }[] }
  /** The Service is gone; whatever it took is `freed`. */
  | { kind: 'deleted'; freed: string[] }
  /**
   * The Service must not hold addresses any more: clear its status (if `statusIps` is non-empty).
   * `released`: it held `releasedIps` here (released now). `removed`: the addresses to report in the
   * ClearAssignment Event and log line, whoever emptied the status (1.32 servers empty
   * status.loadBalancer themselves when a Service stops being a LoadBalancer).
   */
  | { kind: 'clear'; reason: string; released: boolean; releasedIps: string[]; statusIps: string[]; removed: string[]; freed: string[] }
  /**
   * The Service holds `assignment`; `changed`: its status does not say so yet; `moved`: it held
   * other addresses before (freed once its status no longer shows them).
   */
  | { kind: 'assigned'; assignment: Assignment; changed: boolean; moved: boolean; freed: string[] }
  /**
   * No address for the Service: it stays pending until something relevant changes. If it held
   * addresses that no longer answer its request they were released (`released`) and its status
   * must be cleared (`statusIps` non-empty).
   */
  | { kind: 'failed'; reason: string; error: AllocationError | ServiceRequestError; released: boolean; statusIps: string[]; families: Family[]; freed: string[] };

/** What the controller does for a 'clear' decision: write an empty status or not, and what it reports. */
export interface ClearPlan {
  writeStatus: boolean;
  /** The ClearAssignment Event's note and the log line's reason; undefined: nothing to report. */
  report: { ips: string[]; note: string; reason: string } | undefined;
}

/**
 * The status is written only while it still holds addresses; the release is reported either way:
 * a 1.32 server empties status.loadBalancer itself when a Service stops being a LoadBalancer, so
 * the update we see has an empty status although we held (and now released) its addresses.
 */
export function planClear(d: Extract<Decision, { kind: 'clear' }>): ClearPlan {
  const writeStatus = d.statusIps.length > 0;
  if (d.removed.length === 0) return { writeStatus, report: undefined };
  const reason = writeStatus ? d.reason : `${d.reason} (the API server had already emptied the status)`;
  return { writeStatus, report: { ips: d.removed, note: `removed addresses ${d.removed.join(', ')}: ${reason}`, reason } };
}

/** Why this controller does not handle `svc`, or undefined if it does (the rule the speakers use too). */
export function whyNotHandled(svc: V1Service, opts: ReconcileOptions): string | undefined {
  return whyNotHandledBy(svc.spec?.type, svc.spec?.loadBalancerClass, opts.lbClass);
}

export function decide(key: string, svc: V1Service | undefined, allocator: Allocator, opts: ReconcileOptions = {}): Decision {
  const before = allocator.addressesOf(key);
  const freed = (): string[] => before.filter((ip) => !allocator.isTaken(ip));
  if (!svc) {
    allocator.release(key);
    allocator.holdForeign(key, []);
    return { kind: 'deleted', freed: freed() };
  }
  const current = statusIps(svc);
  const notHandled = whyNotHandled(svc, opts);
  if (notHandled !== undefined) {
    const releasedIps = allocator.assignmentOf(key)?.ips ?? [];
    const released = allocator.release(key);
    // A Service of another class keeps whatever its own controller wrote, and those addresses are
    // taken (never handed out twice); one that stopped being a LoadBalancer while we were down (so we
    // never restored it) still gets its stale status cleared, and what it shows stays taken till then.
    const notLb = (svc.spec?.type ?? 'ClusterIP') !== 'LoadBalancer';
    const foreign = allocator.holdForeign(key, current, notLb || released);
    if (released || (notLb && current.length > 0)) {
      const removed = [...new Set([...current, ...releasedIps])];
      return { kind: 'clear', reason: notHandled, released, releasedIps: [...releasedIps], statusIps: current, removed, freed: freed() };
    }
    const d: Extract<Decision, { kind: 'ignore' }> = { kind: 'ignore', freed: freed() };
    if (foreign.conflicts.length > 0) d.conflicts = foreign.conflicts;
    return d;
  }
  // Ours now (e.g. its type changed back): what its status shows may be chosen again.
  allocator.holdForeign(key, []);
  const previous = allocator.assignmentOf(key);
  let assignment: Assignment;
  let families: Family[] = [];
  try {
    const request = requestOf(svc, opts.namespaceLabels?.(svc.metadata?.namespace || 'default'), opts.restored);
    families = [...request.families];
    assignment = allocator.allocate(request);
  } catch (err) {
    if (!(err instanceof AllocationError) && !(err instanceof ServiceRequestError)) throw err;
    // allocate() keeps what a Service holds on failure; a Service that fails while holding something
    // holds addresses its request no longer accepts (requested IP or pool changed), so they go.
    const released = allocator.release(key);
    allocator.holdForeign(key, current, true);
    const reason = err instanceof ServiceRequestError ? `${err.field}: ${err.problem}` : err.message.replace(`${key}: `, '');
    return { kind: 'failed', reason, error: err, released, statusIps: current, families, freed: freed() };
  }
  allocator.holdForeign(
    key,
    current.filter((ip) => !assignment.ips.includes(ip)),
    true,
  );
  const moved = previous !== undefined && !sameIps(previous.ips, assignment.ips);
  return { kind: 'assigned', assignment, changed: !sameIps(current, assignment.ips), moved, freed: freed() };
}

/**
 * Start-up and failover: what the Services' statuses say they hold, recorded before anything is
 * allocated. Oldest Services first, so on a conflict the first claimant keeps the address.
 * Returns the keys of Services whose addresses could not be restored, with why.
 */
export function restoreFromStatuses(allocator: Allocator, services: Iterable<V1Service>, opts: ReconcileOptions = {}): { key: string; why: string }[] {
  const entries: { created: number; key: string; svc: V1Service; ips: string[] }[] = [];
  const foreign: { key: string; ips: string[] }[] = [];
  for (const svc of services) {
    if (whyNotHandled(svc, opts) !== undefined) {
      // Another class's LoadBalancer: its addresses are taken (recorded after ours: ours keep theirs).
      const ips = (svc.spec?.type ?? 'ClusterIP') === 'LoadBalancer' ? statusIps(svc) : [];
      if (ips.length > 0) foreign.push({ key: `${svc.metadata?.namespace ?? 'default'}/${svc.metadata?.name ?? ''}`, ips });
      continue;
    }
    const ips = statusIps(svc);
    if (ips.length === 0) continue;
    const created = svc.metadata?.creationTimestamp;
    const key = `${svc.metadata?.namespace ?? 'default'}/${svc.metadata?.name ?? ''}`;
    entries.push({ created: created ? new Date(created).getTime() : 0, key, svc, ips });
  }
  entries.sort((a, b) => a.created - b.created || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const problems: { key: string; why: string }[] = [];
  const restorable = [];
  for (const e of entries) {
    try {
      const request = serviceRequest(e.svc as ServiceObject);
      opts.restored?.set(e.svc, request);
      restorable.push({ request, ips: e.ips });
    } catch (err) {
      if (!(err instanceof ServiceRequestError)) throw err;
      problems.push({ key: e.key, why: `${err.field}: ${err.problem}` });
    }
  }
  for (const c of allocator.restore(restorable)) problems.push({ key: c.key, why: `${c.ip}: ${c.why}${c.holders.length ? ` (held by ${c.holders.join(', ')})` : ''}` });
  for (const f of foreign) {
    for (const c of allocator.holdForeign(f.key, f.ips).conflicts) {
      problems.push({ key: f.key, why: `${c.ip}: held by ${c.holders.join(', ')} too, which keep${c.holders.length === 1 ? 's' : ''} it (this Service has another loadBalancerClass)` });
    }
  }
  return problems;
}
