// Runs `herald config check` as a user would (through tsx, from the sources) on the fixture files.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { check, exitCode, renderText, type CheckReport } from '../../../cli/config-check.js';

const root = join(import.meta.dirname, '../../..');
const fixture = (name: string): string => join('test/fixtures/services', name);
const tsx = join(root, 'node_modules/.bin/tsx');

async function herald(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(tsx, ['cli/herald.ts', ...args], { cwd: root, env: { ...process.env, NO_COLOR: '1' } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    if (typeof err.code !== 'number') throw e;
    return { code: err.code, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

describe('herald config check (process)', { timeout: 120_000 }, () => {
  it('prints a summary of a valid config and exits 0', async () => {
    const r = await herald('config', 'check', '-f', fixture('config.yaml'));
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      [
        'config: valid, 3 address pools, 1 BGP peer',
        '  pool default: layer2, auto-assign; ipv4 16 addresses; 203.0.113.0/28',
        '  pool edge: bgp, auto-assign, avoid-buggy-ips; ipv4 254, ipv6 18446744073709551616 (2^64) addresses; 198.51.100.0/24 2001:db8:1::/64',
        '  pool reserved: layer2, no auto-assign; ipv4 11 addresses; 203.0.113.200-203.0.113.210',
        '  peer 192.0.2.1 port 179: AS 64500 -> AS 64501, hold 90s, keepalive 30s, all nodes',
        '',
      ].join('\n'),
    );
  });

  it('prints every error with its path and exits 1 for an invalid config', async () => {
    const r = await herald('config', 'check', '-f', fixture('config-invalid.yaml'));
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('config: INVALID (2 errors)');
    expect(r.stdout).toContain('  address-pools[0].addresses[0]: prefix length "33"');
    expect(r.stdout).toContain('  address-pools[1].protocol: unknown protocol "carrier-pigeon"');
  });

  it('reports the Services a config would break and exits 1', async () => {
    const r = await herald('config', 'check', '-f', fixture('config-breaking.yaml'), '--services', fixture('services.json'));
    expect(r.code).toBe(1);
    const lines = r.stdout.split('\n');
    expect(lines).toContain('services: 6 Services with addresses checked, 3 would break, 0 errors');
    expect(lines).toContain('  BREAK   shop/db 203.0.113.12: 203.0.113.12 is in no pool of the new config');
    expect(lines).toContain('  BREAK   edge/dual 2001:db8:1::1: 2001:db8:1::1 is in no pool of the new config');
    expect(lines).toContain('  BREAK   ops/vip 203.0.113.200: the Service asks for pool "reserved", which the new config does not have');
    expect(lines).toContain('  ok      shop/web 203.0.113.1: unchanged (pool "default")');
    expect(lines).toContain('  pending shop/pending: no address yet');
    expect(r.stdout).not.toContain('kube-dns');
    expect(r.stdout).not.toContain('classy');
    expect(lines).toContain('result: the controller would refuse this config (3 Services would lose their address)');
  });

  it('reads kubectl YAML output too, and explains pool changes against --current; JSON output', async () => {
    const r = await herald('config', 'check', '-f', fixture('config-reshaped.yaml'), '--services', fixture('services.yaml'), '--current', fixture('config.yaml'), '-o', 'json');
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout) as CheckReport;
    expect(report.valid).toBe(true);
    expect(report.pools.find((p) => p.name === 'edge')!.size).toEqual({ ipv4: '508', ipv6: (1n << 80n).toString() });
    expect(report.services!.breaking).toBe(0);
    expect(report.services!.results.find((s) => s.key === 'shop/db')).toEqual({
      key: 'shop/db',
      status: 'ok',
      ips: [{ ip: '203.0.113.12', pool: 'web-high', breaking: false, reason: 'now in pool "web-high" (was "default"): protocol layer2 -> bgp, addresses changed' }],
    });
  });

  it('exits 2 with a message when a file cannot be used', async () => {
    const missing = await herald('config', 'check', '-f', fixture('nope.yaml'));
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/herald config check: cannot read config file .*nope\.yaml/);
    const notServices = await herald('config', 'check', '-f', fixture('config.yaml'), '--services', fixture('config.yaml'));
    expect(notServices.code).toBe(2);
    expect(notServices.stderr).toMatch(/neither a List of Services .* nor a Service/);
  });

  it('documents every flag in --help', async () => {
    const top = await herald('--help');
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/config\s/);
    const help = await herald('config', 'check', '--help');
    expect(help.code).toBe(0);
    for (const flag of ['-f, --file <path>', '--services <path>', '--current <path>', '-o, --output <format>', '"text"', '"json"', 'kubectl get svc -A -o json', 'exit 0']) {
      expect(help.stdout).toContain(flag);
    }
  });
});

describe('check (in process)', () => {
  const read = (name: string): string => readFileSync(join(root, fixture(name)), 'utf8');

  it('reports restore conflicts and unreadable Services, and fails on them', () => {
    const report = check(read('config.yaml'), read('services-conflict.json'));
    expect(report.services!.results).toEqual([
      { key: 'shop/bad', status: 'error', error: 'spec.ports[0].port: must be an integer from 1 to 65535, not 0' },
      {
        key: 'shop/copy',
        status: 'breaking',
        ips: [{ ip: '203.0.113.1', breaking: true, reason: 'conflict: shop/web does not allow sharing (no metallb.universe.tf/allow-shared-ip annotation)' }],
      },
      { key: 'shop/web', status: 'ok', ips: [{ ip: '203.0.113.1', pool: 'default', breaking: false, reason: 'unchanged (pool "default")' }] },
    ]);
    expect(exitCode(report)).toBe(1);
  });

  it('a dual-stack Service whose two addresses the config puts in two pools breaks (its addresses are one unit)', () => {
    const cfg = 'address-pools:\n- {name: v4, protocol: layer2, addresses: [203.0.113.0/24]}\n- {name: v6, protocol: layer2, addresses: ["2001:db8::/64"]}\n';
    const svc = JSON.stringify({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'ds', namespace: 'shop' },
      spec: { type: 'LoadBalancer', ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' },
      status: { loadBalancer: { ingress: [{ ip: '203.0.113.4' }, { ip: '2001:db8::4' }] } },
    });
    const report = check(cfg, svc);
    expect(report.services!.results).toEqual([{ key: 'shop/ds', status: 'breaking', ips: [expect.objectContaining({ breaking: false }), expect.objectContaining({ breaking: true, reason: expect.stringContaining('split across pools') })] }]);
    expect(exitCode(report)).toBe(1);
    // Against the config in force (both in one pool), the checked config's split is named as such.
    const both = 'address-pools:\n- {name: ds, protocol: layer2, addresses: [203.0.113.0/24, "2001:db8::/64"]}\n';
    const against = check(cfg, svc, both);
    expect(against.services!.results[0]).toMatchObject({ status: 'breaking', ips: [{ breaking: true, reason: expect.stringContaining('would be split') }, { breaking: true }] });
    expect(exitCode(check(both, svc))).toBe(0);
  });

  it('a valid config with warnings: listed in the text and JSON reports, exit 0; none for a plain config', () => {
    const report = check('address-pools:\n- {name: r, protocol: bgp, addresses: [198.51.100.2-198.51.100.254], bgp-advertisements: [{aggregation-length: 26}]}\n');
    expect(report.valid).toBe(true);
    expect(exitCode(report)).toBe(0);
    expect(report.warnings.map((w) => w.path)).toEqual(['address-pools[0].bgp-advertisements[0].aggregation-length']);
    const lines = renderText(report).split('\n');
    expect(lines[0]).toBe('config: valid, 1 address pool, 0 BGP peers, 1 warning');
    expect(lines[1]).toMatch(/^ {2}warning address-pools\[0\]\.bgp-advertisements\[0\]\.aggregation-length: aggregation-length 26 on range .* announces 198\.51\.100\.0\/26 \(covering 198\.51\.100\.0-198\.51\.100\.1 outside the pool\), 198\.51\.100\.192\/26 \(covering 198\.51\.100\.255 outside the pool\)/);
    expect(JSON.parse(JSON.stringify(report))).toMatchObject({ valid: true, errors: [], warnings: [{ path: 'address-pools[0].bgp-advertisements[0].aggregation-length' }] });
    expect(check(read('config.yaml')).warnings).toEqual([]);
    expect(check('peers: 3\n').warnings).toEqual([]);
  });

  it('accepts a single Service and several YAML documents', () => {
    const one = JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name: 'a' }, spec: { type: 'LoadBalancer' }, status: { loadBalancer: { ingress: [{ ip: '203.0.113.4' }] } } });
    expect(check(read('config.yaml'), one).services!.checked).toBe(1);
    expect(check(read('config.yaml'), `${one}\n---\n${one.replace('"a"', '"b"').replace('.4', '.5')}`).services!.checked).toBe(2);
    expect(exitCode(check(read('config.yaml'), one))).toBe(0);
  });
});
