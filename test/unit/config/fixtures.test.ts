// Table tests over test/fixtures/config: valid documents parse, invalid ones report exactly the issues
// their `# expect: <path> | <text>` lines list, and the seed examples (from /work/shared/seeds) parse.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import yaml from 'js-yaml';
import { describe, expect, it } from 'vitest';
import { ConfigError, type Config } from '../../../config/model.js';
import { parseConfig, parseConfigObject } from '../../../config/parse.js';

const root = join(import.meta.dirname, '../../fixtures/config');
const yamlFiles = (dir: string) =>
  readdirSync(join(root, dir))
    .filter((f) => f.endsWith('.yaml'))
    .sort();
const read = (dir: string, file: string) => readFileSync(join(root, dir, file), 'utf8');

function issuesOf(text: string) {
  try {
    parseConfig(text);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).issues;
  }
  throw new Error('expected a ConfigError');
}

describe('valid fixtures', () => {
  it.each(yamlFiles('valid'))('%s parses', (file) => {
    expect(() => parseConfig(read('valid', file))).not.toThrow();
  });
});

describe('invalid fixtures', () => {
  it.each(yamlFiles('invalid'))('%s reports exactly its expected issues', (file) => {
    const text = read('invalid', file);
    const expected = [...text.matchAll(/^# expect: (\S+) \| (.+)$/gm)].map((m) => ({
      path: m[1] === '-' ? '' : m[1],
      text: m[2],
    }));
    expect(expected.length).toBeGreaterThan(0);
    const issues = issuesOf(text);
    for (const e of expected) {
      const match = issues.find((i) => i.path === e.path && i.message.includes(e.text));
      expect(match, `no issue at ${JSON.stringify(e.path)} containing ${JSON.stringify(e.text)}; got:\n${issues.map((i) => `${i.path}: ${i.message}`).join('\n')}`).toBeDefined();
    }
    expect(issues.map((i) => `${i.path}: ${i.message}`)).toHaveLength(expected.length);
  });
});

/** A seed is either a ConfigMap with data.config, or a Helm-values override whose `configInline` is the config. */
function parseSeed(text: string): Config {
  const docs = yaml.loadAll(text) as { kind?: string; data?: Record<string, string> }[];
  const values = docs.find((d) => d?.kind === 'ConfigMap' && d.data?.['values.yaml'] !== undefined)?.data?.['values.yaml'];
  if (values !== undefined) return parseConfigObject((yaml.load(values) as { configInline: unknown }).configInline);
  return parseConfig(text);
}

describe('seed examples', () => {
  const seeds = yamlFiles('seeds');
  it('extracted every MetalLB config in /work/shared/seeds', () => {
    expect(seeds).toHaveLength(4);
    for (const file of seeds) expect(read('seeds', file)).toMatch(/^# Source: \/work\/shared\/seeds\//);
  });

  it.each(seeds)('%s parses', (file) => {
    const config = parseSeed(read('seeds', file));
    expect(config.pools.length).toBeGreaterThan(0);
  });

  it('002 layer2 example: one range pool', () => {
    const config = parseSeed(read('seeds', '002-kommander-layer2.yaml'));
    expect(config.pools).toEqual([
      {
        name: 'default',
        protocol: 'layer2',
        addresses: [{ family: 'ipv4', first: 0x0a00_3219n, last: 0x0a00_3232n, source: '10.0.50.25-10.0.50.50' }],
        avoidBuggyIps: false,
        autoAssign: true,
        bgpAdvertisements: [],
      },
    ]);
  });

  it('002 bgp example: iBGP peer with defaults and a default advertisement', () => {
    const config = parseSeed(read('seeds', '002-kommander-bgp.yaml'));
    expect(config.peers).toEqual([
      { myAsn: 64500, peerAsn: 64500, peerAddress: '172.17.0.4', peerPort: 179, holdTime: 90, keepaliveTime: 30, nodeSelectors: [], ebgpMultihop: false },
    ]);
    expect(config.pools[0].bgpAdvertisements).toEqual([{ aggregationLength: 32, aggregationLengthV6: 128, communities: [] }]);
    expect(config.pools[0].addresses[0].prefixLength).toBe(24);
  });

  it('003 examples: IPv4 ConfigMap and the IPv6 range from the prose', () => {
    expect(parseSeed(read('seeds', '003-slate-configmap.yaml')).pools[0].addresses[0].source).toBe('203.0.113.42-203.0.113.64');
    const v6 = parseSeed(read('seeds', '003-slate-pool-examples.yaml')).pools[0].addresses[1];
    expect(v6.family).toBe('ipv6');
    expect(v6.last - v6.first).toBe(3n);
  });
});
