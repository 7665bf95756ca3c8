// `herald controller` option parsing: the leader Lease name (flag, environment, default, refusal of
// names the API server would reject), and the lease duration — checked before any API call.
import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { register } from '../../../cli/controller.js';

/** Parses `args` (the run stops at the unreadable kubeconfig); returns the parsed options or the error. */
async function parse(args: string[], env: Record<string, string> = {}): Promise<{ opts: Record<string, unknown>; code: number; message: string }> {
  const program = new Command('herald').exitOverride();
  let message = '';
  const out = { writeErr: (s: string) => (message += s), writeOut: () => undefined };
  program.configureOutput(out);
  register(program);
  const cmd = program.commands.find((c) => c.name() === 'controller') as Command;
  for (const c of program.commands) c.exitOverride().configureOutput(out);
  const saved = { ...process.env };
  Object.assign(process.env, { HERALD_NAMESPACE: '', HERALD_LEADER_ELECT_LEASE_NAME: '', ...env });
  if (!env.HERALD_LEADER_ELECT_LEASE_NAME) delete process.env.HERALD_LEADER_ELECT_LEASE_NAME;
  try {
    await program.parseAsync(['node', 'herald', 'controller', '--namespace', 'x', '--kubeconfig', '/nonexistent/kubeconfig', ...args]);
  } catch (e) {
    return { opts: cmd.opts(), code: (e as { exitCode: number }).exitCode, message };
  } finally {
    process.env = saved;
  }
  throw new Error('expected the run to stop at the kubeconfig');
}

describe('herald controller options', () => {
  it('--leader-elect-lease-name: default herald-controller, the flag, else HERALD_LEADER_ELECT_LEASE_NAME', async () => {
    expect((await parse([])).opts.leaderElectLeaseName).toBe('herald-controller');
    expect((await parse(['--leader-elect-lease-name', 'lb-leader'])).opts.leaderElectLeaseName).toBe('lb-leader');
    expect((await parse([], { HERALD_LEADER_ELECT_LEASE_NAME: 'from-env.example' })).opts.leaderElectLeaseName).toBe('from-env.example');
    expect((await parse(['--leader-elect-lease-name', 'flag-wins'], { HERALD_LEADER_ELECT_LEASE_NAME: 'from-env' })).opts.leaderElectLeaseName).toBe('flag-wins');
    // Parsing got as far as the kubeconfig (the name was accepted).
    expect(await parse(['--leader-elect-lease-name', 'ok'])).toMatchObject({ code: 2, message: expect.stringMatching(/--kubeconfig/) });
  });

  it('refuses a Lease name the API server would reject, naming the flag', async () => {
    for (const bad of ['Upper', 'under_score', '-dash', 'dot.', '', 'a'.repeat(254)]) {
      const r = await parse(['--leader-elect-lease-name', bad]);
      expect(r.code, bad).not.toBe(0);
      expect(r.message, bad).toMatch(/--leader-elect-lease-name: .* is not a valid object name/);
    }
    expect((await parse([], { HERALD_LEADER_ELECT_LEASE_NAME: 'Bad_Name' })).message).toMatch(/--leader-elect-lease-name/);
  });

  it('--lease-duration: Go durations in whole milliseconds, at least 1s', async () => {
    expect((await parse([])).opts.leaseDuration).toBe(15_000);
    expect((await parse(['--lease-duration', '3s'])).opts.leaseDuration).toBe(3_000);
    expect((await parse(['--lease-duration', '500ms'])).message).toMatch(/--lease-duration: must be at least 1s/);
  });
});
