// Loads YAML text safely for the config parser: size cap, YAML 1.2 core types only (plus merge keys),
// floats kept distinguishable from integers, and every loader failure turned into an issue.
import yaml from 'js-yaml';
import { Issues } from './issues.js';

/**
 * Kubernetes caps a ConfigMap's data at 1 MiB (the API server sums the bytes of its data and binaryData
 * values: config/configmap-size.ts), so a larger config cannot be real.
 */
export const MAX_CONFIG_BYTES = 1024 * 1024;

/**
 * A manifest file holding such a ConfigMap is larger than its data (indentation of a block scalar, JSON
 * escapes, other documents): the file is bounded at 4 MiB only so a bomb cannot cost memory; the rule
 * on the config's size is the API server's, applied to the data.
 */
export const MAX_MANIFEST_BYTES = 4 * MAX_CONFIG_BYTES;

/** A YAML float (`1.5`, `64500.0`, `.inf`): kept apart from integers so `my-asn: 64500.0` can be rejected. */
export class YamlFloat {
  /** `text` is the float as written, for messages ("64500.0"). */
  constructor(
    readonly value: number,
    readonly text: string = String(value),
  ) {}
}

// js-yaml exports its built-in types at runtime, but @types/js-yaml does not declare them.
const builtin = (yaml as unknown as { types: Record<'null' | 'bool' | 'int' | 'float' | 'merge', yaml.Type> }).types;

const floatType = new yaml.Type('tag:yaml.org,2002:float', {
  kind: 'scalar',
  resolve: (data: string | null) => builtin.float.resolve(data),
  construct: (data: string) => new YamlFloat(builtin.float.construct(data) as number, data),
  instanceOf: YamlFloat,
  represent: (data: object) => String((data as YamlFloat).value),
});

// No timestamps, binary, sets or other JS-constructing types: a config is maps, lists and scalars.
const SCHEMA = yaml.FAILSAFE_SCHEMA.extend({
  implicit: [builtin.null, builtin.bool, builtin.int, floatType, builtin.merge],
});

/**
 * Every document in `text`, or undefined after recording why it cannot be loaded.
 * `path` names where the text came from (`data.config` for a ConfigMap's config, '' for the file itself).
 */
export function loadYamlDocuments(text: string, path: string, issues: Issues, maxBytes = MAX_CONFIG_BYTES): unknown[] | undefined {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > maxBytes) {
    const why = maxBytes === MAX_CONFIG_BYTES ? 'the Kubernetes ConfigMap size limit' : `a manifest of a ConfigMap, whose data Kubernetes caps at ${MAX_CONFIG_BYTES} bytes`;
    issues.add(path, `document is ${bytes} bytes; the limit is ${maxBytes} (${why})`);
    return undefined;
  }
  try {
    return yaml.loadAll(text, null, { schema: SCHEMA });
  } catch (err) {
    if (err instanceof yaml.YAMLException) {
      const mark = err.mark as { line?: number; column?: number } | undefined;
      const where = mark && typeof mark.line === 'number' ? ` at line ${mark.line + 1}, column ${(mark.column ?? 0) + 1}` : '';
      issues.add(path, `invalid YAML${where}: ${err.reason || err.message}`);
    } else if (err instanceof RangeError) {
      // The loader recurses per nesting level; absurd nesting exhausts the stack.
      issues.add(path, 'invalid YAML: nested too deeply to load');
    } else {
      issues.add(path, `invalid YAML: ${err instanceof Error ? err.message : String(err)}`);
    }
    return undefined;
  }
}

/** The YAML text of a bare config document (used by renderConfig and by tests). */
export function dumpYaml(value: unknown): string {
  return yaml.dump(value, { schema: SCHEMA, noRefs: true, lineWidth: -1 });
}
