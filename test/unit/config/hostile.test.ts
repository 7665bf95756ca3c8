// Hostile and broken input: always a ConfigError (never another exception, never a hang).
import { randomBytes } from 'node:crypto';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../config/model.js';
import { parseConfig, parseConfigObject } from '../../../config/parse.js';
import { MAX_ISSUES } from '../../../config/issues.js';

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

/** Billion laughs: 10 levels of 10 aliases each = 10^10 strings once expanded, a few hundred bytes of text. */
function billionLaughs(): string {
  const lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i <= 9; i++) lines.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(',')}]`);
  lines.push('peers: *a9');
  return lines.join('\n');
}

// The timeouts below only turn a hang into a failure; speed is measured in test/bench/config.bench.ts.
describe('hostile input', () => {
  it('a billion-laughs YAML bomb is a ConfigError', { timeout: 20_000 }, () => {
    const err = configError(() => parseConfig(billionLaughs()));
    expect(err.issues).toEqual([{ path: '', message: 'document has more than 1000000 values once YAML aliases are expanded (a YAML bomb?)' }]);
  });

  it('a bomb inside a ConfigMap data.config is a ConfigError', { timeout: 20_000 }, () => {
    const inner = billionLaughs().replace(/\n/g, '\n    ');
    const err = configError(() => parseConfig(`kind: ConfigMap\ndata:\n  config: |\n    ${inner}\n`));
    expect(err.issues[0].message).toContain('a YAML bomb?');
  });

  it('a cyclic alias is a ConfigError', () => {
    expect(configError(() => parseConfig('peers: &a [*a]\n')).issues[0].message).toContain('nested more than 64 levels deep (or contains a cyclic alias)');
  });

  it('a cyclic object given to parseConfigObject is a ConfigError', () => {
    const doc: Record<string, unknown> = {};
    doc.peers = [doc];
    expect(configError(() => parseConfigObject(doc)).issues[0].message).toContain('cyclic');
  });

  it('deep flow nesting is a ConfigError', { timeout: 20_000 }, () => {
    const err = configError(() => parseConfig(`peers: ${'['.repeat(200_000)}${']'.repeat(200_000)}`));
    expect(err.issues[0].message).toMatch(/nested|invalid YAML/);
  });

  it('deep block nesting within the size limit is a ConfigError', () => {
    let text = '';
    for (let i = 0; i < 80; i++) text += `${' '.repeat(i)}k${i}:\n`;
    expect(configError(() => parseConfig(text)).issues[0].message).toContain('nested more than 64 levels deep');
  });

  it('a document over 1 MiB is a ConfigError naming the limit', () => {
    const text = `# ${'x'.repeat(1024 * 1024)}\n`;
    expect(configError(() => parseConfig(text)).issues).toEqual([
      { path: '', message: `document is ${1024 * 1024 + 3} bytes; the limit is 1048576 (the Kubernetes ConfigMap size limit)` },
    ]);
  });

  it('random bytes are a ConfigError', () => {
    for (let i = 0; i < 200; i++) {
      const bytes = randomBytes(1 + Math.floor(Math.random() * 2000));
      for (const text of [bytes.toString('utf8'), bytes.toString('latin1')]) {
        try {
          parseConfig(text);
        } catch (err) {
          expect(err).toBeInstanceOf(ConfigError);
        }
      }
    }
  });

  it('non-data values given to parseConfigObject are a ConfigError', () => {
    for (const bad of [() => 1, Symbol('x'), 10n, new Map(), new Date(0), /re/, new (class Foo {})()]) {
      const err = configError(() => parseConfigObject({ peers: [bad] }));
      expect(err.issues[0].message).toContain('a config holds only mappings, lists, strings, numbers and booleans');
    }
    expect(configError(() => parseConfigObject('text')).issues).toEqual([{ path: '', message: 'expected a config document (a mapping), got a string ("text")' }]);
  });

  it('wrong types at every level are ConfigErrors naming the path', () => {
    const err = configError(() =>
      parseConfigObject({ peers: 'x', 'bgp-communities': 3, 'address-pools': [{ name: [], protocol: {}, addresses: [[]], 'bgp-advertisements': 'x' }] }),
    );
    expect(err.issues.map((i) => i.path)).toEqual([
      'bgp-communities',
      'peers',
      'address-pools[0].name',
      'address-pools[0].protocol',
      'address-pools[0].addresses[0]',
      'address-pools[0].bgp-advertisements',
    ]);
  });

  it('a pool with errors skips the aggregation warnings, whose walk hostile entries could make quadratic', { timeout: 30_000 }, () => {
    // 20,000 one-address entries (each refused by the aggregation rule) inside the aggregate that the
    // first block of 3,000 copies of an accepted range announces: naming every gap for every copy
    // took minutes; an invalid config has no warnings to name.
    const small = Array.from({ length: 20_000 }, (_, i) => `10.64.${Math.floor(i / 125)}.${(i % 125) * 2 + 1}/32`);
    const ranges = Array.from({ length: 3_000 }, () => '10.96.0.1-10.255.255.254');
    const err = configError(() => parseConfigObject({ 'address-pools': [{ name: 'p', protocol: 'bgp', addresses: [...small, ...ranges], 'bgp-advertisements': [{ 'aggregation-length': 10 }] }] }));
    expect(err.issues).toHaveLength(MAX_ISSUES + 1);
  });

  it('a huge number of issues is capped, with a count of the rest', () => {
    // One list shared by alias in 300 pools: every entry overlaps its copies.
    const text = `x: &list [${Array.from({ length: 10 }, (_, i) => `198.51.100.${i}/32`).join(', ')}]\n`;
    const pools = Array.from({ length: 300 }, (_, i) => `- {name: p${i}, protocol: layer2, addresses: *list}`).join('\n');
    const err = configError(() => parseConfigObject(parseYaml(`${text}address-pools:\n${pools}\n`)));
    expect(err.issues).toHaveLength(MAX_ISSUES + 1);
    expect(err.issues[MAX_ISSUES].message).toMatch(/^\.\.\. and \d+ more issues$/);
  });
});

// parseConfigObject takes the loaded value; strip the helper key `x` the alias was defined under.
function parseYaml(text: string): unknown {
  const doc = yaml.load(text) as Record<string, unknown>;
  delete doc.x;
  return doc;
}
