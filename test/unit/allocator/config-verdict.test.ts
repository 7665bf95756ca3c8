// The shared config verdict (controller and speakers): the same parse as `herald config check`, checked against held addresses.
import { describe, expect, it } from 'vitest';
import type { V1ConfigMap } from '@kubernetes/client-node';
import { Allocator } from '../../../allocator/allocator.js';
import { breakingNotes, configMapText, evaluateConfig, invalidNotes, NOTE_LIMIT, warningNotes } from '../../../allocator/config-verdict.js';
import { check } from '../../../cli/config-check.js';
import { config, pool, req } from './helpers.js';

const cm = (text: string | undefined): V1ConfigMap => ({ metadata: { name: 'config', namespace: 'herald' }, data: text === undefined ? {} : { config: text } });
const pools = (...lines: string[]): string => `address-pools:\n${lines.join('')}`;
const p = (name: string, range: string): string => `- name: ${name}\n  protocol: layer2\n  addresses: [${range}]\n`;

describe('evaluateConfig', () => {
  it('missing, unchanged, apply', () => {
    const a = new Allocator(config());
    expect(evaluateConfig(undefined, a.held(), undefined)).toEqual({ kind: 'missing' });
    const m = cm(pools(p('a', '192.0.2.0/24')));
    const v = evaluateConfig(m, a.held(), undefined);
    expect(v.kind).toBe('apply');
    expect(evaluateConfig(m, a.held(), configMapText(m))).toEqual({ kind: 'unchanged' });
  });

  it('invalid: every issue with its path, the same as config check reports for the manifest', () => {
    const a = new Allocator(config());
    const bad = cm(pools(p('a', '192.0.2.0/33'), '- name: b\n  protocol: carrier-pigeon\n  addresses: [198.51.100.0/24]\n'));
    const v = evaluateConfig(bad, a.held(), undefined);
    expect(v.kind).toBe('invalid');
    if (v.kind !== 'invalid') return;
    expect(v.issues.map((i) => i.path)).toEqual(check(configMapText(bad)).errors.map((i) => i.path));
    expect(v.issues.length).toBeGreaterThanOrEqual(2);
    expect(invalidNotes(v.issues)).toEqual([expect.stringContaining('address-pools[1].protocol')]);
    const garbage = evaluateConfig(cm('address-pools: [\n  - {name: x\n'), a.held(), undefined);
    expect(garbage.kind === 'invalid' && garbage.issues[0].path).toBe('data.config');
    expect(evaluateConfig(cm(undefined), a.held(), undefined)).toMatchObject({ kind: 'invalid', issues: [{ path: 'data.config' }] });
  });

  it('apply carries the warnings config check prints, and their Event notes name each path', () => {
    const a = new Allocator(config());
    const text = 'address-pools:\n- {name: r, protocol: bgp, addresses: [198.51.100.2-198.51.100.254], bgp-advertisements: [{aggregation-length: 26}]}\n';
    const v = evaluateConfig(cm(text), a.held(), undefined);
    if (v.kind !== 'apply') throw new Error(v.kind);
    expect(v.warnings).toEqual(check(configMapText(cm(text))).warnings);
    expect(v.warnings.map((w) => w.path)).toEqual(['address-pools[0].bgp-advertisements[0].aggregation-length']);
    expect(warningNotes(v.warnings)).toEqual([
      expect.stringMatching(/^config loaded with 1 warning: address-pools\[0\]\.bgp-advertisements\[0\]\.aggregation-length: aggregation-length 26 on range 198\.51\.100\.2-198\.51\.100\.254 .* announces 198\.51\.100\.0\/26 \(covering 198\.51\.100\.0-198\.51\.100\.1 outside the pool\)/),
    ]);
    expect(evaluateConfig(cm(pools(p('a', '192.0.2.0/24'))), a.held(), undefined)).toMatchObject({ kind: 'apply', warnings: [] });
  });

  it('breaking: names each Service and address; acceptable once the Service moved', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/24']), pool('b', ['198.51.100.0/24'])));
    a.allocate(req('ns/s1'));
    a.allocate(req('ns/s2', { pool: 'b' }));
    const onlyB = cm(pools(p('b', '198.51.100.0/24')));
    const v = evaluateConfig(onlyB, a.held(), undefined);
    expect(v.kind).toBe('breaking');
    if (v.kind !== 'breaking') return;
    expect(v.breaking.map((c) => c.key)).toEqual(['ns/s1']);
    expect(breakingNotes(v.breaking)[0]).toContain('ns/s1 192.0.2.0: 192.0.2.0 is in no pool of the new config');
    a.allocate(req('ns/s1', { requestedIps: ['198.51.100.7'] }));
    expect(evaluateConfig(onlyB, a.held(), undefined).kind).toBe('apply');
  });

  it('breaking: a config that splits a held dual-stack pair across two pools', () => {
    const a = new Allocator(config(pool('ds', ['192.0.2.0/24', '2001:db8::/64'])));
    a.allocate(req('ns/pair', { families: ['ipv4', 'ipv6'] }));
    const v = evaluateConfig(cm(pools(p('v4', '192.0.2.0/24'), p('v6', '"2001:db8::/64"'))), a.held(), undefined);
    expect(v.kind).toBe('breaking');
    if (v.kind !== 'breaking') return;
    expect(breakingNotes(v.breaking)[0]).toContain('ns/pair 192.0.2.0: the dual-stack pair 192.0.2.0, 2001:db8:: would be split');
  });

  it('many Services: the refusal is split over notes under the Event size limit, naming every one', () => {
    const a = new Allocator(config(pool('a', ['192.0.2.0/24'])));
    for (let i = 0; i < 100; i++) a.allocate(req(`namespace-with-a-long-name/service-${i}`));
    const v = evaluateConfig(cm(pools(p('b', '198.51.100.0/24'))), a.held(), undefined);
    if (v.kind !== 'breaking') throw new Error(v.kind);
    const notes = breakingNotes(v.breaking);
    expect(notes.length).toBeGreaterThan(1);
    for (const n of notes) expect(n.length).toBeLessThanOrEqual(NOTE_LIMIT);
    expect(notes[0]).toMatch(/^config refused, it would take addresses from 100 Services; .* \(part 1\/\d+\): /);
    const all = notes.join('\n');
    for (let i = 0; i < 100; i++) expect(all).toContain(`namespace-with-a-long-name/service-${i} 192.0.2.${i}:`);
  });
});

describe('the ConfigMap size limit counts what the API server counts (its data values, 1 MiB)', () => {
  // Comments full of quotes: JSON escapes each, so our JSON re-serialisation is twice the stored size.
  const padded = (bytes: number): string => {
    const body = pools(p('a', '192.0.2.0/24'));
    const line = `# ${'"'.repeat(98)}\n`;
    let text = body;
    while (text.length + line.length <= bytes) text += line;
    return text + '#'.repeat(bytes - text.length - 1) + '\n';
  };
  const manifest = (cmObject: V1ConfigMap): string =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: config\n  namespace: herald\ndata:\n  config: |\n${(cmObject.data?.config ?? '').split('\n').filter((l) => l !== '').map((l) => `    ${l}\n`).join('')}`;

  it('a valid 530 kB ConfigMap (1 MiB+ as JSON) is applied by the daemons and accepted by config check', () => {
    const a = new Allocator(config());
    const m = cm(padded(530_000));
    expect(Buffer.byteLength(m.data!.config)).toBe(530_000);
    expect(configMapText(m).length).toBeGreaterThan(1024 * 1024);
    expect(evaluateConfig(m, a.held(), undefined)).toMatchObject({ kind: 'apply', warnings: [] });
    expect(check(manifest(m)).errors).toEqual([]);
  });

  it('exactly 1 MiB of data is stored, one byte more is refused, with the same issue for both', () => {
    const a = new Allocator(config());
    const limit = 1024 * 1024;
    const fits = cm(padded(limit - 'x'.length));
    fits.data!.x = 'x';
    expect(evaluateConfig(fits, a.held(), undefined).kind).toBe('apply');
    const over = cm(padded(limit - 'x'.length));
    over.data!.x = 'xy';
    const v = evaluateConfig(over, a.held(), undefined);
    expect(v).toMatchObject({ kind: 'invalid', issues: [{ path: 'data', message: `ConfigMap data is ${limit + 1} bytes; the limit is ${limit} (the Kubernetes ConfigMap size limit: the sum of its data and binaryData values)` }] });
    expect(check(`${manifest(over)}  x: xy\n`).errors).toEqual(v.kind === 'invalid' ? v.issues : []);
    // binaryData counts its decoded bytes.
    const binary: V1ConfigMap = { ...cm(padded(limit - 2)), binaryData: { b: Buffer.from('abc').toString('base64') } };
    expect(evaluateConfig(binary, a.held(), undefined)).toMatchObject({ kind: 'invalid', issues: [{ path: 'data', message: expect.stringContaining(`is ${limit + 1} bytes`) }] });
  });
});
