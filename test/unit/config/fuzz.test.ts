// A time-bounded fuzzer over the config parsers' text input: the legacy ConfigMap parser and the
// manifest reader that also compiles metallb.io CRs (config/crs/). Seeds are valid documents (the
// fixtures, and the CRs of a full config written as a multi-document manifest); each run mutates one
// at the text level (characters replaced, inserted or deleted from a YAML-ish alphabet, lines dropped
// or repeated, a cut), or takes random text. A parser may only return or throw a ConfigError listing
// at least one issue with a message; never another exception.
// Bounded per CI run: FUZZ_MS per target (HERALD_FUZZ_MS changes it).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { toConfigMap, toCrManifests } from '../../../config/crs/emit.js';
import { parseAnyConfigWithWarnings } from '../../../config/crs/source.js';
import { ConfigError } from '../../../config/model.js';
import { parseConfig } from '../../../config/parse.js';

const FUZZ_MS = Number(process.env.HERALD_FUZZ_MS ?? 1500);
const budget = { numRuns: 10_000_000, interruptAfterTimeLimit: FUZZ_MS };

const fixtures = join(import.meta.dirname, '..', '..', 'fixtures');
const legacy = ['config/valid', 'config/seeds', 'metallb-config'].flatMap((d) =>
  readdirSync(join(fixtures, d))
    .filter((f) => f.endsWith('.yaml'))
    .map((f) => readFileSync(join(fixtures, d, f), 'utf8')),
);
const full = parseConfig(readFileSync(join(fixtures, 'config/valid/full-bgp.yaml'), 'utf8'));
const crText = toCrManifests(full, 'metallb-system')
  .map((m) => yaml.dump(m))
  .join('---\n');
const configMapText = yaml.dump(toConfigMap(full, 'config', 'metallb-system'));

const ALPHABET = [...' \n\t:-[]{},#&*!|>\'"%@`?0123456789abcdefgxyz.\\/', '\u00e9', '\u0000', '\ufeff'];

function mutate(text: string, edits: Array<[number, number, number]>, cut: number): string {
  let t = text;
  for (const [kind, at, c] of edits) {
    const i = t.length === 0 ? 0 : at % t.length;
    const ch = ALPHABET[c % ALPHABET.length];
    if (kind === 0) t = t.slice(0, i) + ch + t.slice(i + 1);
    else if (kind === 1) t = t.slice(0, i) + ch + t.slice(i);
    else if (kind === 2) t = t.slice(0, i) + t.slice(i + 1);
    else {
      const lines = t.split('\n');
      const l = at % lines.length;
      if (kind === 3) lines.splice(l, 1);
      else lines.splice(l, 0, lines[l]);
      t = lines.join('\n');
    }
  }
  return cut > 0 ? t.slice(0, Math.max(0, t.length - cut)) : t;
}

const mutatedOf = (seeds: string[]): fc.Arbitrary<string> =>
  fc
    .tuple(fc.constantFrom(...seeds), fc.array(fc.tuple(fc.nat(4), fc.nat(), fc.nat()), { minLength: 1, maxLength: 6 }), fc.oneof(fc.constant(0), fc.nat(200)))
    .map(([seed, edits, cut]) => mutate(seed, edits, cut));
const random = fc.string({ maxLength: 300 });

function onlyConfigError(parse: () => unknown): void {
  try {
    parse();
  } catch (err) {
    if (!(err instanceof ConfigError)) throw new Error(`threw a non-ConfigError: ${String(err)}`, { cause: err });
    expect(err.issues.length).toBeGreaterThan(0);
    for (const issue of err.issues) expect(issue.message.length).toBeGreaterThan(0);
  }
}

describe('fuzz: the config parsers return or throw ConfigError', () => {
  it('the seeds are valid where they should be (the CR manifest and the ConfigMap compile)', () => {
    expect(parseAnyConfigWithWarnings(crText).kind).toBe('crs');
    expect(parseAnyConfigWithWarnings(configMapText).kind).toBe('configmap');
  });

  it('legacy config text (parseConfig)', () => {
    fc.assert(fc.property(fc.oneof({ arbitrary: mutatedOf(legacy), weight: 4 }, { arbitrary: random, weight: 1 }), (t) => onlyConfigError(() => parseConfig(t))), budget);
  });

  it('manifests: ConfigMaps and metallb.io CRs (parseAnyConfigWithWarnings, the CR compiler)', () => {
    fc.assert(
      fc.property(fc.oneof({ arbitrary: mutatedOf([crText, configMapText]), weight: 4 }, { arbitrary: random, weight: 1 }), (t) => onlyConfigError(() => parseAnyConfigWithWarnings(t))),
      budget,
    );
  });
});
