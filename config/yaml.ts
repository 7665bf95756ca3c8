// Loads YAML text safely for the config parser: size cap, YAML 1.2 core types only (plus merge keys),
// floats kept distinguishable from integers, and every loader failure turned into an issue.
import yaml from 'js-yaml';
import { Issues } from './issues.js';

/** Kubernetes caps a ConfigMap at 1 MiB, so a larger config cannot be real. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

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
export function loadYamlDocuments(text: string, path: string, issues: Issues): unknown[] | undefined {
  const bytes = Buffer.byteLength(text, 'utf8');
  if (bytes > MAX_CONFIG_BYTES) {
    issues.add(path, `document is ${bytes} bytes; the limit is ${MAX_CONFIG_BYTES} (the Kubernetes ConfigMap size limit)`);
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
