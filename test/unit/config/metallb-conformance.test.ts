// MetalLB v0.12.1's own parser cases (TestParse, all 49, copied byte for byte into
// test/fixtures/metallb-config with SOURCE.md): each runs through the built CLI exactly as a user
// would (`herald config check -f FILE`) and must give MetalLB's verdict (exit 0 valid, 1 invalid,
// nothing else, no stack trace). The only expected disagreements are listed below by name, with the
// reason in expected.tsv's 4th column (`herald-differs: ...`): when one of them starts agreeing, this
// test fails, so whoever lands the feature flips it here and in the table.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '../../..');
const dir = join(root, 'test/fixtures/metallb-config');
const cli = join(root, 'dist/cli/herald.js');

/** None since BFD landed (42 and 45, the BFD profiles, were the last). */
const EXPECTED_DISAGREEMENTS: string[] = [];

interface Case {
  file: string;
  verdict: 'valid' | 'invalid';
  meaning: string;
  differs?: string;
}

const cases: Case[] = readFileSync(join(dir, 'expected.tsv'), 'utf8')
  .split('\n')
  .filter((line) => line !== '')
  .map((line) => {
    const [file, verdict, meaning, note] = line.split('\t');
    if (verdict !== 'valid' && verdict !== 'invalid') throw new Error(`expected.tsv: ${file}: verdict ${verdict}`);
    const c: Case = { file, verdict, meaning };
    if (note?.startsWith('herald-differs:')) c.differs = note;
    return c;
  });

async function check(file: string): Promise<{ code: number | string; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [cli, 'config', 'check', '-f', join(dir, file)], { env: { ...process.env, NO_COLOR: '1' } });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number | string; stdout?: string; stderr?: string };
    if (err.code === undefined) throw e;
    return { code: err.code, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

describe('MetalLB v0.12.1 TestParse cases through `herald config check -f`', { timeout: 120_000 }, () => {
  it('the table holds all 49 cases, each file present, and names exactly the expected disagreements', () => {
    expect(existsSync(cli), `${cli} is missing: run make build (make test builds first)`).toBe(true);
    expect(cases).toHaveLength(49);
    for (const c of cases) expect(existsSync(join(dir, c.file)), c.file).toBe(true);
    expect(cases.filter((c) => c.differs).map((c) => c.file)).toEqual(EXPECTED_DISAGREEMENTS);
  });

  it.concurrent.each(cases)('$file: MetalLB says $verdict', async (c) => {
    const r = await check(c.file);
    const shown = `exit ${r.code}\nstdout:\n${r.stdout}\nstderr:\n${r.stderr}`;
    expect([0, 1], `never a crash or another exit code (${c.meaning})\n${shown}`).toContain(r.code);
    expect(r.stderr, shown).toBe('');
    const herald = r.code === 0 ? 'valid' : 'invalid';
    if (c.differs) {
      expect(herald, `${c.file} now agrees with MetalLB: flip it in EXPECTED_DISAGREEMENTS and expected.tsv\n${shown}`).not.toBe(c.verdict);
    } else {
      expect(herald, `${c.file}: ${c.meaning}\n${shown}`).toBe(c.verdict);
    }
  });

  it('echo-mode (case 45) is valid with a warning that only asynchronous mode runs', async () => {
    const r = await check('45-bfd-nondefault-profile.yaml');
    expect(r.stdout).toContain('1 warning');
    expect(r.stdout).toContain('only asynchronous mode runs');
  });

  it('a range whose widest block allows the aggregation length is valid, with a warning naming what the aggregates cover outside the pool', async () => {
    const r = await check('30-aggregation-by-range.yaml');
    expect(r.stdout).toContain('config: valid, 1 address pool, 0 BGP peers, 1 warning');
    expect(r.stdout).toContain('announces 3.3.3.0/26 (covering 3.3.3.0-3.3.3.1 outside the pool), 3.3.3.192/26 (covering 3.3.3.255 outside the pool)');
  });
});
