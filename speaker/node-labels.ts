// Every speaker's node labels, as the layer2 owner rule needs them: an L2Advertisement's nodeSelectors
// decide which nodes may own a VIP, and all speakers must agree on the owner. Each speaker sees only its
// own Node, so it publishes the labels on its speaker Lease (NODE_LABELS_ANNOTATION, JSON), and every
// speaker, itself included, decides from the Leases it observes: like node-exclusion.ts, all switch on
// the same observed write. A label change reaches the others with the next Lease renewal.

/** Annotation on a speaker Lease: its Node's labels as a JSON object of strings. */
export const NODE_LABELS_ANNOTATION = 'herald.io/node-labels';

/** The annotation value for `labels` (keys sorted, so equal labels give equal text). */
export function encodeNodeLabels(labels: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.fromEntries(Object.keys(labels).sort().map((k) => [k, labels[k]])));
}

/**
 * The labels a Lease's annotations publish. A Lease without the annotation (a speaker that has not
 * written it yet) or with one that is not an object of strings gives no labels: such a node matches
 * only selectors that ask nothing.
 */
export function leaseNodeLabels(annotations: Readonly<Record<string, string>> | undefined): Record<string, string> {
  const text = annotations?.[NODE_LABELS_ANNOTATION];
  if (text === undefined) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return {};
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) if (typeof v === 'string') out[k] = v;
  return out;
}
