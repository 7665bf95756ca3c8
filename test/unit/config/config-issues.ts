// What the config tests share: a ConfigError's issues as `path: message` lines, and metallb.io
// objects to compile.
import { compileCrs } from '../../../config/crs/compile.js';
import { ConfigError } from '../../../config/model.js';

/** The issues `run` fails with, as `path: message`; anything but a ConfigError fails the test. */
export function issuesOf(run: () => unknown): string[] {
  try {
    run();
  } catch (e) {
    if (e instanceof ConfigError) return e.issues.map((i) => `${i.path}: ${i.message}`);
    throw e;
  }
  throw new Error('expected a ConfigError');
}

/** The issues of compiling these metallb.io objects. */
export function crIssues(docs: unknown[]): string[] {
  return issuesOf(() => compileCrs(docs));
}

export const CR_NAMESPACE = 'metallb-system';

/** A metallb.io object in CR_NAMESPACE at MetalLB's version of its kind (BGPPeer v1beta2). */
export function crObject(kind: string, name: string, spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) {
  return {
    apiVersion: kind === 'BGPPeer' ? 'metallb.io/v1beta2' : 'metallb.io/v1beta1',
    kind,
    metadata: { name, namespace: CR_NAMESPACE, ...metadata },
    spec,
  };
}
