import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { parseDuration, register } from '../../../cli/l2-announce.js';

function program(): { cmd: Command; err: string[] } {
  const err: string[] = [];
  const cmd = new Command('herald').exitOverride().configureOutput({ writeErr: (s) => err.push(s), writeOut: () => {} });
  register(cmd);
  for (const c of cmd.commands) {
    c.exitOverride();
    for (const sub of c.commands) sub.exitOverride();
  }
  return { cmd, err };
}

describe('herald l2 announce: arguments', () => {
  it('parses durations with a unit', () => {
    expect(parseDuration('--garp-interval', '1s')).toBe(1000);
    expect(parseDuration('--garp-interval', '250ms')).toBe(250);
    expect(parseDuration('--garp-interval', '1.5s')).toBe(1500);
    for (const bad of ['1', 'ms', '-1s', '0s', '1m', '']) expect(() => parseDuration('--garp-interval', bad)).toThrow(/--garp-interval/);
  });

  it('rejects a bad VIP, regex, count or duration with a message naming the flag', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['--ip', '203.0.113.300'], /--ip: not an IP address: "203\.0\.113\.300"/],
      [['--ip', '203.0.113.10', '--exclude-interface', '(['], /--exclude-interface: exclude\[0\]: invalid regex/],
      [['--ip', '203.0.113.10', '--garp-count', 'x'], /--garp-count: expected an integer/],
      [['--ip', '203.0.113.10', '--garp-interval', '5'], /--garp-interval: expected a duration/],
      [[], /required option '--ip <address>'/],
    ];
    for (const [args, want] of cases) {
      const { cmd, err } = program();
      await expect(cmd.parseAsync(['node', 'herald', 'l2', 'announce', ...args])).rejects.toMatchObject({ exitCode: expect.any(Number) });
      expect(err.join('')).toMatch(want);
    }
  });
});
