import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { createLogger, logLevelOption, LogLevelError, parseLogLevel, type LogLevel } from '../../../kube/log.js';

function capture(level?: LogLevel) {
  const lines: string[] = [];
  const logger = createLogger({ component: 'speaker', level, destination: { write: (s: string) => void lines.push(s) } });
  const records = () => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  return { logger, lines, records };
}

describe('createLogger', () => {
  it('writes one JSON object per line with the stable keys, level by name and an ISO time', () => {
    const { logger, lines, records } = capture();
    logger.info({ event: 'nodeAssigned', service: 'ns/web', ip: '192.0.2.10', pool: 'l2', node: 'node-a' }, 'announcing');
    expect(lines).toHaveLength(1);
    expect(lines[0].endsWith('\n')).toBe(true);
    const [r] = records();
    expect(r).toMatchObject({ level: 'info', component: 'speaker', event: 'nodeAssigned', service: 'ns/web', ip: '192.0.2.10', pool: 'l2', node: 'node-a', msg: 'announcing' });
    expect(new Date(r.time as string).toISOString()).toBe(r.time);
    expect(r).not.toHaveProperty('pid');
    expect(r).not.toHaveProperty('hostname');
  });

  it('children carry their fields; errors are serialized with type and message', () => {
    const { logger, records } = capture();
    const bgp = logger.child({ component: 'bgp', peer: '198.51.100.1' });
    bgp.warn({ event: 'sessionDown', reason: 'holdTimerExpired', err: new RangeError('boom') });
    const [r] = records();
    expect(r).toMatchObject({ level: 'warn', component: 'bgp', peer: '198.51.100.1', event: 'sessionDown', reason: 'holdTimerExpired' });
    expect(r.err).toMatchObject({ type: 'RangeError', message: 'boom' });
  });

  it('honours the level', () => {
    const { logger, records } = capture('warn');
    logger.info({ event: 'x' });
    logger.debug({ event: 'x' });
    logger.error({ event: 'y' });
    expect(records().map((r) => r.event)).toEqual(['y']);
    expect(logger.level).toBe('warn');
    expect(logger.isLevelEnabled('info')).toBe(false);
    expect(logger.isLevelEnabled('error')).toBe(true);
    const silent = capture('silent');
    silent.logger.fatal({ event: 'z' });
    expect(silent.lines).toEqual([]);
  });

  it('defaults to info', () => {
    const { logger, records } = capture();
    logger.debug({ event: 'hidden' });
    logger.info({ event: 'shown' });
    expect(records().map((r) => r.event)).toEqual(['shown']);
  });
});

describe('--log-level', () => {
  it('parses levels case-insensitively and rejects others with a typed error', () => {
    expect(parseLogLevel('DEBUG')).toBe('debug');
    expect(() => parseLogLevel('verbose')).toThrow(LogLevelError);
    expect(() => parseLogLevel('verbose')).toThrow(/--log-level: must be one of trace, debug, info, warn, error, fatal, silent, got "verbose"/);
  });

  it('the shared option validates choices, defaults to info, falls back to HERALD_LOG_LEVEL', () => {
    const make = () => {
      const errors: string[] = [];
      const cmd = new Command('x')
        .addOption(logLevelOption())
        .exitOverride()
        .configureOutput({ writeErr: (s) => errors.push(s), writeOut: () => {} });
      return { cmd, errors };
    };
    const saved = process.env.HERALD_LOG_LEVEL;
    try {
      delete process.env.HERALD_LOG_LEVEL;
      let { cmd } = make();
      expect(cmd.parse([], { from: 'user' }).opts().logLevel).toBe('info');
      ({ cmd } = make());
      expect(cmd.parse(['--log-level', 'debug'], { from: 'user' }).opts().logLevel).toBe('debug');
      process.env.HERALD_LOG_LEVEL = 'error';
      ({ cmd } = make());
      expect(cmd.parse([], { from: 'user' }).opts().logLevel).toBe('error');
      const bad = make();
      expect(() => bad.cmd.parse(['--log-level', 'loud'], { from: 'user' })).toThrow();
      expect(bad.errors.join('')).toMatch(/loud/);
    } finally {
      if (saved === undefined) delete process.env.HERALD_LOG_LEVEL;
      else process.env.HERALD_LOG_LEVEL = saved;
    }
  });
});
