// `herald config check -f FILE [--services FILE] [-o text|json]`: validates a config (ConfigMap or CRs) and, given the
// Services of a cluster, says which of them the config would break — exactly what the controller
// would refuse. Exit 0: valid and nothing breaks; 1: invalid, or some Service would break or cannot
// be checked (a malformed Service: its address would not be protected); 2: a file cannot be read or
// the Services file is not Services.
import { poolAnnounced } from '../config/advertisement-scope.js';
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import yaml from 'js-yaml';
import { parseAnyConfigWithWarnings } from '../config/crs/source.js';
import { ConfigError, type Config, type ConfigIssue, type Peer } from '../config/model.js';
import { Allocator, type AssignmentCheck, type PoolStats, type RestoreEntry } from '../allocator/allocator.js';
import { isLoadBalancer, serviceIngressIps, serviceKey, serviceRequest, ServiceRequestError, type ServiceObject } from '../allocator/service-request.js';

interface CheckOpts {
  file: string;
  services?: string;
  current?: string;
  output: 'text' | 'json';
}

/** A file the command cannot use at all (exit 2). */
class InputError extends Error {}

export interface PoolSummary {
  name: string;
  protocol: string;
  autoAssign: boolean;
  avoidBuggyIps: boolean;
  addresses: string[];
  /** Usable addresses per family, as decimal strings (IPv6 pools exceed 2^53). */
  size: { ipv4?: string; ipv6?: string };
}

export interface PeerSummary {
  peerAddress: string;
  peerPort: number;
  myAsn: number;
  /** A number, or 'internal' / 'external' for a dynamic ASN. */
  peerAsn: number | 'internal' | 'external';
  holdTime: number;
  keepaliveTime: number;
  nodeSelectors: number;
  password: boolean;
}

export type ServiceVerdict =
  | { key: string; status: 'ok' | 'breaking'; ips: { ip: string; pool?: string; breaking: boolean; reason: string }[] }
  | { key: string; status: 'pending' }
  | { key: string; status: 'error'; error: string };

export interface CheckReport {
  valid: boolean;
  errors: ConfigIssue[];
  /** Allowed, but probably not meant (e.g. an aggregate announcing addresses outside its pool); exit code unaffected. */
  warnings: ConfigIssue[];
  pools: PoolSummary[];
  peers: PeerSummary[];
  services?: { checked: number; breaking: number; errors: number; results: ServiceVerdict[] };
}

export function register(program: Command): void {
  const config = program.commands.find((c) => c.name() === 'config') ?? program.command('config').description('MetalLB-format configuration tools');
  config
    .command('check')
    .description(
      'validate a config and print a summary; with --services, also report per Service whether the config keeps its current addresses ' +
        '(exit 0: valid and nothing breaks; 1: invalid config, or a Service would break or cannot be checked; 2: a file cannot be read or holds no Services)',
    )
    .requiredOption('-f, --file <path>', 'the config: a ConfigMap manifest (data.config in MetalLB\'s legacy format), a bare config document, or MetalLB CR manifests (metallb.io IPAddressPool, L2Advertisement, BGPAdvertisement, BGPPeer, Community; several YAML documents); "-" reads stdin')
    .option('--services <path>', 'the cluster\'s Services as `kubectl get svc -A -o json` (or -o yaml) prints them; their current addresses (status.loadBalancer.ingress) are checked against the config')
    .option('--current <path>', 'with --services: the config in force now, so each verdict also says how the address\'s pool changes (renamed, split, protocol...); default: the checked config itself')
    .addOption(new Option('-o, --output <format>', 'report format').choices(['text', 'json']).default('text'))
    .action((opts: CheckOpts) => {
      process.exitCode = run(opts);
    });
}

function readInput(path: string, what: string): string {
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8');
  } catch (e) {
    throw new InputError(`cannot read ${what} ${path}: ${(e as Error).message}`);
  }
}

function run(opts: CheckOpts): number {
  let report: CheckReport;
  try {
    if (opts.current !== undefined && opts.services === undefined) throw new InputError('--current needs --services');
    report = check(
      readInput(opts.file, 'config file'),
      opts.services === undefined ? undefined : readInput(opts.services, 'Services file'),
      opts.current === undefined ? undefined : readInput(opts.current, 'current config file'),
    );
  } catch (e) {
    if (!(e instanceof InputError)) throw e;
    process.stderr.write(`herald config check: ${e.message}\n`);
    return 2;
  }
  process.stdout.write(opts.output === 'json' ? `${JSON.stringify(report, null, 2)}\n` : renderText(report));
  return exitCode(report);
}

export function exitCode(report: CheckReport): number {
  if (!report.valid) return 1;
  return report.services && (report.services.breaking > 0 || report.services.errors > 0) ? 1 : 0;
}

/** The whole check, pure: config text, optional Services and current config text in, report out. */
export function check(configText: string, servicesText?: string, currentText?: string): CheckReport {
  let config: Config;
  let warnings: ConfigIssue[];
  try {
    ({ config, warnings } = parseAnyConfigWithWarnings(configText));
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    return { valid: false, errors: e.issues, warnings: [], pools: [], peers: [] };
  }
  const allocator = new Allocator(config);
  const report: CheckReport = {
    valid: true,
    errors: [],
    warnings,
    pools: summarizePools(config, allocator.stats()),
    peers: config.peers.map(summarizePeer),
  };
  if (servicesText !== undefined) {
    // The controller's allocator holds the config in force; without one, restore into the checked config.
    let current = allocator;
    if (currentText !== undefined) {
      try {
        current = new Allocator(parseAnyConfigWithWarnings(currentText).config);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        throw new InputError(`the current config is invalid:\n${e.message}`);
      }
    }
    report.services = checkServices(config, current, loadServices(servicesText));
  }
  return report;
}

function summarizePools(config: Config, stats: PoolStats[]): PoolSummary[] {
  return config.pools.map((p, i) => {
    const s = stats[i];
    const size: PoolSummary['size'] = {};
    if (s.ipv4) size.ipv4 = s.ipv4.total.toString();
    if (s.ipv6) size.ipv6 = s.ipv6.total.toString();
    return { name: p.name, protocol: poolAnnounced(p) ? p.protocol : 'none (not announced)', autoAssign: p.autoAssign, avoidBuggyIps: p.avoidBuggyIps, addresses: p.addresses.map((a) => a.source), size };
  });
}

function summarizePeer(p: Peer): PeerSummary {
  return {
    peerAddress: p.peerAddress,
    peerPort: p.peerPort,
    myAsn: p.myAsn,
    peerAsn: p.peerAsn,
    holdTime: p.holdTime,
    keepaliveTime: p.keepaliveTime,
    nodeSelectors: p.nodeSelectors.length,
    password: p.password !== undefined,
  };
}

/** The Service objects in `kubectl get svc -o json|yaml` output: a List, a single Service, or several YAML documents. */
function loadServices(text: string): unknown[] {
  let docs: unknown[];
  try {
    docs = yaml.loadAll(text).filter((d) => d !== null && d !== undefined);
  } catch (e) {
    throw new InputError(`Services file is not JSON or YAML: ${(e as Error).message}`);
  }
  const out: unknown[] = [];
  docs.forEach((doc, i) => {
    const where = docs.length > 1 ? `document ${i + 1}` : 'the Services file';
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new InputError(`${where} is not an object`);
    const d = doc as Record<string, unknown>;
    if (Array.isArray(d.items)) {
      d.items.forEach((item: unknown, j: number) => {
        const kind = typeof item === 'object' && item !== null ? (item as Record<string, unknown>).kind : undefined;
        if (kind !== undefined && kind !== 'Service') throw new InputError(`${where}: items[${j}] is a ${String(kind)}, not a Service`);
        out.push(item);
      });
    } else if (d.kind === 'Service') out.push(d);
    else throw new InputError(`${where} is neither a List of Services (as kubectl get svc -A -o json prints) nor a Service`);
  });
  return out;
}

function checkServices(config: Config, allocator: Allocator, objects: unknown[]): NonNullable<CheckReport['services']> {
  const results = new Map<string, ServiceVerdict>();
  const entries: RestoreEntry[] = [];
  objects.forEach((obj, i) => {
    const svc = obj as ServiceObject;
    let key = `items[${i}]`;
    try {
      key = serviceKey(svc);
      if (!isLoadBalancer(svc)) return;
      const request = serviceRequest(svc);
      const ips = serviceIngressIps(svc);
      if (ips.length === 0) results.set(key, { key, status: 'pending' });
      else entries.push({ request, ips });
    } catch (e) {
      if (!(e instanceof ServiceRequestError)) throw e;
      results.set(key, { key, status: 'error', error: `${e.field}: ${e.problem}` });
    }
  });
  // Restore exactly as the controller does at start-up, then ask what it would ask before a config change.
  const conflicts = allocator.restore(entries);
  const verdicts = new Map<string, AssignmentCheck>();
  for (const c of allocator.checkConfig(config)) verdicts.set(c.key, c);
  for (const { request, ips } of entries) {
    const conflict = conflicts.find((c) => c.key === request.key);
    if (conflict) {
      results.set(request.key, {
        key: request.key,
        status: 'breaking',
        ips: ips.map((ip) => ({
          ip,
          breaking: ip === conflict.ip,
          reason: ip === conflict.ip ? `conflict: ${conflict.why}` : 'not restored: the Service conflicts on another address',
        })),
      });
      continue;
    }
    const v = verdicts.get(request.key) as AssignmentCheck;
    results.set(request.key, {
      key: request.key,
      status: v.breaking ? 'breaking' : 'ok',
      ips: v.ips.map((i) => ({ ip: i.ip, ...(i.newPool ? { pool: i.newPool } : {}), breaking: i.breaking, reason: i.reason })),
    });
  }
  const list = [...results.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return {
    checked: entries.length,
    breaking: list.filter((r) => r.status === 'breaking').length,
    errors: list.filter((r) => r.status === 'error').length,
    results: list,
  };
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function sizeText(n: string): string {
  const big = BigInt(n);
  // Show huge IPv6 pools as powers of two too: 18446744073709551616 is hard to read.
  if (big >= 1n << 32n && (big & (big - 1n)) === 0n) return `${n} (2^${big.toString(2).length - 1})`;
  return n;
}

export function renderText(r: CheckReport): string {
  const out: string[] = [];
  if (!r.valid) {
    out.push(`config: INVALID (${plural(r.errors.length, 'error')})`);
    for (const e of r.errors) out.push(`  ${e.path || '(document)'}: ${e.message}`);
    return `${out.join('\n')}\n`;
  }
  const warned = r.warnings.length > 0 ? `, ${plural(r.warnings.length, 'warning')}` : '';
  out.push(`config: valid, ${plural(r.pools.length, 'address pool')}, ${plural(r.peers.length, 'BGP peer')}${warned}`);
  for (const w of r.warnings) out.push(`  warning ${w.path || '(document)'}: ${w.message}`);
  for (const p of r.pools) {
    const flags = [p.protocol, p.autoAssign ? 'auto-assign' : 'no auto-assign', ...(p.avoidBuggyIps ? ['avoid-buggy-ips'] : [])];
    const sizes = [...(p.size.ipv4 ? [`ipv4 ${sizeText(p.size.ipv4)}`] : []), ...(p.size.ipv6 ? [`ipv6 ${sizeText(p.size.ipv6)}`] : [])];
    out.push(`  pool ${p.name}: ${flags.join(', ')}; ${sizes.join(', ')} addresses; ${p.addresses.join(' ')}`);
  }
  for (const p of r.peers) {
    const nodes = p.nodeSelectors === 0 ? 'all nodes' : `nodes matching ${plural(p.nodeSelectors, 'selector')}`;
    out.push(
      `  peer ${p.peerAddress} port ${p.peerPort}: AS ${p.myAsn} -> ${typeof p.peerAsn === 'number' ? `AS ${p.peerAsn}` : `AS learned from the peer (dynamic-asn ${p.peerAsn})`}, hold ${p.holdTime}s, keepalive ${p.keepaliveTime}s, ${nodes}${p.password ? ', password set' : ''}`,
    );
  }
  if (r.services) {
    const s = r.services;
    out.push(`services: ${plural(s.checked, 'Service')} with addresses checked, ${s.breaking} would break, ${plural(s.errors, 'error')}`);
    for (const v of s.results) {
      if (v.status === 'pending') out.push(`  pending ${v.key}: no address yet`);
      else if (v.status === 'error') out.push(`  ERROR   ${v.key}: cannot check: ${v.error}`);
      else for (const i of v.ips) out.push(`  ${i.breaking ? 'BREAK' : 'ok   '}   ${v.key} ${i.ip}: ${i.reason}`);
    }
    if (s.breaking > 0) out.push(`result: the controller would refuse this config (${plural(s.breaking, 'Service')} would lose ${s.breaking === 1 ? 'its' : 'their'} address)`);
    else if (s.errors > 0) out.push('result: some Services could not be checked');
    else out.push('result: no Service would lose its address');
  }
  return `${out.join('\n')}\n`;
}
