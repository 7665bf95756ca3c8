// MetalLB's Service annotations under both names: the current `metallb.io/` one and the deprecated
// `metallb.universe.tf/` one. As in MetalLB (controller/service.go, valueForAnnotation and
// SharingKey), the current name wins whenever its key is present, even empty; the deprecated one
// counts only without it. Herald also says so when both are set and differ (annotationConflicts).

export type AnnotationName = 'address-pool' | 'loadBalancerIPs' | 'allow-shared-ip';

export const CURRENT_PREFIX = 'metallb.io/';
/** Written by the controller on the Services it gives addresses: the pool they came from (MetalLB's name). */
export const ALLOCATED_FROM_POOL = 'metallb.io/ip-allocated-from-pool';
export const DEPRECATED_PREFIX = 'metallb.universe.tf/';
const NAMES: readonly AnnotationName[] = ['address-pool', 'loadBalancerIPs', 'allow-shared-ip'];

/** Both keys of each name, current first, built once: this runs several times per Service at a restart of 100,000. */
const KEYS: Readonly<Record<AnnotationName, readonly [string, string]>> = {
  'address-pool': [CURRENT_PREFIX + 'address-pool', DEPRECATED_PREFIX + 'address-pool'],
  loadBalancerIPs: [CURRENT_PREFIX + 'loadBalancerIPs', DEPRECATED_PREFIX + 'loadBalancerIPs'],
  'allow-shared-ip': [CURRENT_PREFIX + 'allow-shared-ip', DEPRECATED_PREFIX + 'allow-shared-ip'],
};

/** The annotation in force for `name` (its key and value), or undefined when neither key is set. */
export function metallbAnnotation(annotations: Readonly<Record<string, unknown>>, name: AnnotationName): { key: string; value: unknown } | undefined {
  for (const key of KEYS[name]) {
    if (Object.prototype.hasOwnProperty.call(annotations, key)) return { key, value: annotations[key] };
  }
  return undefined;
}

/** One sentence per annotation set under both names with different values: which one is used, and why. */
export function annotationConflicts(annotations: Readonly<Record<string, unknown>> | undefined): string[] {
  if (!annotations) return [];
  const out: string[] = [];
  for (const name of NAMES) {
    const [currentKey, oldKey] = KEYS[name];
    const current = annotations[currentKey];
    const old = annotations[oldKey];
    if (current === undefined || old === undefined || current === old) continue;
    out.push(
      `${currentKey} ${JSON.stringify(current)} is used, not ${oldKey} ${JSON.stringify(old)}: ` +
        `the current name wins when both are set, as in MetalLB (remove one to silence this)`,
    );
  }
  return out;
}
