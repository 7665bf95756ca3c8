// Config parser benchmark: parseConfig on a ConfigMap with 10,000 address entries (1,000 bgp pools,
// CIDRs and ranges of both families), with js-yaml's load alone measured in the same run as the
// floor; the overlap check (sort + sweep) against the all-pairs comparison it avoids; and the time
// to reject a billion-laughs YAML bomb. Run with `tsx --expose-gc` (make bench). One figure per line.
import yaml from 'js-yaml';
import { parseAddressEntry } from '../../config/addresses.js';
import { Issues } from '../../config/issues.js';
import { ConfigError } from '../../config/model.js';
import { checkOverlaps, type LocatedRange } from '../../config/overlaps.js';
import { parseConfig } from '../../config/parse.js';

const POOLS = 1000;
const PER_POOL = 10;

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc (make bench does)');

function figure(name: string, value: number, digits = 4): void {
  console.log(`${name} ${value.toFixed(digits)}`);
}

/** Best of `runs` (after a warm-up), wall and process CPU seconds. */
function timed(name: string, runs: number, fn: () => void): void {
  fn();
  let best = Infinity;
  let bestCpu = Infinity;
  for (let i = 0; i < runs; i++) {
    gc!();
    const cpu = process.cpuUsage();
    const t = performance.now();
    fn();
    best = Math.min(best, (performance.now() - t) / 1000);
    const used = process.cpuUsage(cpu);
    bestCpu = Math.min(bestCpu, (used.user + used.system) / 1e6);
  }
  figure(`${name}.seconds`, best);
  figure(`${name}.cpu-seconds`, bestCpu);
}

// 10.0.0.0/8 and 2001:db8::/32: config data only, never used on a network.
function entry(p: number, i: number): string {
  const n = p * PER_POOL + i;
  switch (i % 4) {
    case 0:
      return `10.${n >> 8 & 255}.${n & 255}.0/24`;
    case 1:
      return `10.${n >> 8 & 255}.${n & 255}.10-10.${n >> 8 & 255}.${n & 255}.200`;
    case 2:
      return `2001:db8:${n.toString(16)}::/64`;
    default:
      return `2001:db8:${n.toString(16)}::10-2001:db8:${n.toString(16)}::ffff`;
  }
}

const pools = Array.from({ length: POOLS }, (_, p) => ({
  name: `pool-${p}`,
  protocol: 'bgp',
  addresses: Array.from({ length: PER_POOL }, (_, i) => entry(p, i)),
  'bgp-advertisements': [{ 'aggregation-length': 32, communities: ['no-export', '64500:1'] }],
}));
const configText = yaml.dump({ 'bgp-communities': { 'no-export': '65535:65281' }, 'address-pools': pools });
const manifest = yaml.dump({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'config' }, data: { config: configText } });
figure('config.manifest.10k-entries.bytes', Buffer.byteLength(manifest), 0);

const parsed = parseConfig(manifest);
if (parsed.pools.length !== POOLS) throw new Error('benchmark config did not parse');

timed('config.parse.10k-entries', 5, () => parseConfig(manifest));
timed('config.yaml-load-only.10k-entries', 5, () => yaml.load(yaml.load(manifest) as never as string));

const located: LocatedRange[] = parsed.pools.flatMap((p, pi) => p.addresses.map((range, i) => ({ range, path: `address-pools[${pi}].addresses[${i}]`, order: pi * PER_POOL + i })));
timed('config.overlaps.sweep.10k-entries', 5, () => checkOverlaps(located, new Issues()));
timed('config.overlaps.all-pairs.10k-entries', 1, () => {
  let found = 0;
  for (let i = 0; i < located.length; i++) {
    const a = located[i].range;
    for (let j = i + 1; j < located.length; j++) {
      const b = located[j].range;
      if (a.family === b.family && a.first <= b.last && b.first <= a.last) found++;
    }
  }
  if (found !== 0) throw new Error('unexpected overlap');
});

timed('config.address-entry.10k', 5, () => {
  for (const p of pools) for (const a of p.addresses) parseAddressEntry(a);
});

const bomb = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
for (let i = 1; i <= 9; i++) bomb.push(`a${i}: &a${i} [${Array(10).fill(`*a${i - 1}`).join(',')}]`);
const bombText = bomb.join('\n');
timed('config.reject-billion-laughs', 5, () => {
  try {
    parseConfig(bombText);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return;
  }
  throw new Error('bomb accepted');
});
