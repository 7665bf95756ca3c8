// `herald bgp announce` option parsing: communities, large communities, prefix files, and the
// command's refusal of bad flags with a message naming the flag (exit code 2).
import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { parseCommunity, parseLargeCommunity, readPrefixFile, register } from '../../../cli/bgp-announce.js';

const dir = mkdtempSync(join(tmpdir(), 'herald-bgp-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the command's parser (not its action's network part) and returns the error message and exit code. */
async function parseError(args: string[]): Promise<{ code: number; message: string }> {
  const program = new Command('herald').exitOverride();
  let message = '';
  program.configureOutput({ writeErr: (s) => (message += s), writeOut: () => undefined });
  register(program);
  const bgp = program.commands.find((c) => c.name() === 'bgp');
  for (const c of [program, bgp, ...(bgp?.commands ?? [])]) c?.exitOverride().configureOutput({ writeErr: (s) => (message += s), writeOut: () => undefined });
  try {
    await program.parseAsync(['node', 'herald', 'bgp', 'announce', ...args]);
  } catch (e) {
    return { code: (e as { exitCode: number }).exitCode, message };
  }
  throw new Error('expected the command to refuse these flags');
}

const base = ['--local-as', '65001', '--peer-address', '192.0.2.10', '--peer-as', '65000'];

describe('herald bgp announce options', () => {
  it('parses communities and large communities', () => {
    expect(parseCommunity('65000:100')).toBe(((65000 << 16) | 100) >>> 0);
    expect(parseCommunity('65535:65535')).toBe(0xffffffff);
    expect(parseLargeCommunity('4200000000:1:2')).toEqual({ globalAdmin: 4200000000, localData1: 1, localData2: 2 });
    for (const bad of ['65536:1', '1', 'a:b', '1:2:3']) expect(() => parseCommunity(bad), bad).toThrow(InvalidArgumentError);
    for (const bad of ['1:2', '4294967296:1:1', 'x:y:z']) expect(() => parseLargeCommunity(bad), bad).toThrow(InvalidArgumentError);
  });

  it('reads prefix files with comments and blank lines, naming the line of a bad one', () => {
    const good = join(dir, 'good.txt');
    writeFileSync(good, '# VIPs\n203.0.113.10/32\n\n203.0.113.11   # bare address\n2001:db8::10/128\n');
    expect(readPrefixFile(good).map(String)).toEqual(['203.0.113.10/32', '203.0.113.11/32', '2001:db8::10/128']);
    const bad = join(dir, 'bad.txt');
    writeFileSync(bad, '203.0.113.10/32\n203.0.113.300/32\n');
    expect(() => readPrefixFile(bad)).toThrow(/bad\.txt:2:/);
    expect(() => readPrefixFile(join(dir, 'missing.txt'))).toThrow(/--prefix-file: cannot read/);
  });

  it('refuses bad flags with exit code 2 and the flag named', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--local-as', 'x', '--peer-address', '192.0.2.10', '--peer-as', '65000'], /--local-as/],
      [['--local-as', '65001', '--peer-address', 'router.example', '--peer-as', '65000'], /--peer-address/],
      [[...base, '--hold-time', '2'], /--hold-time: must be 0 or >= 3/],
      [[...base, '--community', '65536:1'], /--community/],
      [[...base, '--prefix', '203.0.113.1/33'], /--prefix/],
      [[...base, '--source-address', '2001:db8::1'], /--source-address/],
      [[...base, '--password-file', join(dir, 'no-such-file')], /--password-file: cannot read/],
    ];
    for (const [args, re] of cases) {
      const r = await parseError(args);
      expect(r.message, args.join(' ')).toMatch(re);
      expect(r.code, args.join(' ')).not.toBe(0);
    }
  });
});
