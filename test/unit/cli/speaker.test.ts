// `herald speaker` option parsing: durations, the node name, lease renew vs duration, bad interface
// regexes — each refused with a message naming the flag and exit code 2, before any API call.
import { describe, expect, it } from 'vitest';
import { Command, InvalidArgumentError } from 'commander';
import { parseMillis, register } from '../../../cli/speaker.js';

async function parseError(args: string[], env: Record<string, string> = {}): Promise<{ code: number; message: string }> {
  const program = new Command('herald').exitOverride();
  let message = '';
  const out = { writeErr: (s: string) => (message += s), writeOut: () => undefined };
  program.configureOutput(out);
  register(program);
  for (const c of program.commands) c.exitOverride().configureOutput(out);
  const saved = { ...process.env };
  Object.assign(process.env, { HERALD_NODE_NAME: '', HERALD_NAMESPACE: '', ...env });
  try {
    await program.parseAsync(['node', 'herald', 'speaker', ...args]);
  } catch (e) {
    return { code: (e as { exitCode: number }).exitCode, message };
  } finally {
    process.env = saved;
  }
  throw new Error('expected the command to refuse these flags');
}

describe('herald speaker options', () => {
  it('parses Go durations to milliseconds', () => {
    expect(parseMillis('--lease-renew')('1s')).toBe(1000);
    expect(parseMillis('--lease-renew')('250ms')).toBe(250);
    expect(parseMillis('--lease-renew')('1m30s')).toBe(90_000);
    for (const bad of ['0s', 'abc', '-1s', '10']) expect(() => parseMillis('--lease-renew')(bad), bad).toThrow(InvalidArgumentError);
  });

  it('refuses a missing node name, a renew interval not shorter than the duration, bad regexes', async () => {
    expect(await parseError(['--namespace', 'x'])).toMatchObject({ code: 2, message: expect.stringMatching(/--node-name: required/) });
    expect(await parseError(['--node-name', 'n1', '--namespace', 'x', '--lease-renew', '3s', '--lease-duration', '3s'])).toMatchObject({
      code: 2,
      message: expect.stringMatching(/--lease-renew: must be shorter than --lease-duration/),
    });
    expect(await parseError(['--node-name', 'n1', '--namespace', 'x', '--exclude-interface', '('])).toMatchObject({ code: 2, message: expect.stringMatching(/--exclude-interface/) });
    expect(await parseError(['--node-name', 'n1', '--namespace', 'x', '--lease-duration', 'soon'])).toMatchObject({ code: 1, message: expect.stringMatching(/--lease-duration/) });
    expect(await parseError(['--node-name', 'n1', '--namespace', 'x', '--bgp-listen=router.example:179'])).toMatchObject({ code: 1, message: expect.stringMatching(/--bgp-listen: expected \[ADDRESS\]\[:PORT\]/) });
    expect(await parseError(['--node-name', 'n1', '--namespace', 'x', '--kubeconfig', '/nonexistent/kubeconfig'])).toMatchObject({ code: 2, message: expect.stringMatching(/--kubeconfig/) });
  });

  it('with --liveness-port the Lease defaults become renew 10 s, duration 30 s (flags and env still win)', async () => {
    const live = ['--node-name', 'n1', '--namespace', 'x', '--liveness-port', '7947', '--liveness-address', '127.0.0.1', '--liveness-secret-file', '/nonexistent/secret'];
    // The default renew is now 10 s: a 5 s duration is refused against it.
    expect(await parseError([...live, '--lease-duration', '5s'])).toMatchObject({ code: 2, message: expect.stringMatching(/10000 ms >= 5000 ms/) });
    expect(await parseError([...live, '--lease-renew', '40s'])).toMatchObject({ code: 2, message: expect.stringMatching(/40000 ms >= 30000 ms/) });
    expect(await parseError(live, { HERALD_LEASE_DURATION: '5s' })).toMatchObject({ code: 2, message: expect.stringMatching(/10000 ms >= 5000 ms/) });
    // Without liveness: 1 s and 3 s as before.
    expect(await parseError(['--node-name', 'n1', '--namespace', 'x', '--lease-duration', '900ms'])).toMatchObject({ code: 2, message: expect.stringMatching(/1000 ms >= 900 ms/) });
  });

  it('takes the node name and namespace from the environment', async () => {
    // Gets past the node-name and namespace checks to the kubeconfig one.
    expect(await parseError(['--kubeconfig', '/nonexistent/kubeconfig'], { HERALD_NODE_NAME: 'n1', HERALD_NAMESPACE: 'x' })).toMatchObject({ code: 2, message: expect.stringMatching(/--kubeconfig/) });
  });
});
