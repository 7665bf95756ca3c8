// JSON logs for both daemons (pino), with one fixed vocabulary of keys so logs can be filtered the
// same way everywhere: component, event, service, ip, pool, peer, node, reason (+ err for errors).
// The typed Logger below accepts only those keys, so a typo is a compile error, not a new key.
import { Option } from 'commander';
import { destination, pino, stdSerializers, stdTimeFunctions, type DestinationStream, type Logger as PinoLogger } from 'pino';

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
type EmitLevel = Exclude<LogLevel, 'silent'>;

/** The stable keys. Values are strings so every line has the same shape for log tooling. */
export interface LogFields {
  /** Which part of the daemon: "controller", "speaker", "allocator", "layer2", "bgp", "membership", ... */
  component?: string;
  /** What happened, camelCase and stable: "ipAllocated", "configRefused", "nodeAssigned", "sessionUp", ... */
  event?: string;
  /** "namespace/name" of the Service. */
  service?: string;
  ip?: string;
  pool?: string;
  /** BGP peer address. */
  peer?: string;
  node?: string;
  /** Why (a decision or withdrawal reason, an error code). */
  reason?: string;
  /** The config in force, by its hash (herald_config_generation's label); on every config accept and refusal. */
  config?: string;
  /** An error: serialized with type, message and stack. */
  err?: unknown;
}

export interface Logger {
  readonly level: LogLevel;
  /** A logger whose lines all carry `fields` too. */
  child(fields: LogFields): Logger;
  isLevelEnabled(level: EmitLevel): boolean;
  trace(fields: LogFields, msg?: string): void;
  debug(fields: LogFields, msg?: string): void;
  info(fields: LogFields, msg?: string): void;
  warn(fields: LogFields, msg?: string): void;
  error(fields: LogFields, msg?: string): void;
  fatal(fields: LogFields, msg?: string): void;
}

export interface LoggerOptions {
  /** The `component` key on every line (e.g. "controller", "speaker"). */
  component: string;
  level?: LogLevel;
  /** Where lines go; default stdout. Anything with write(line). */
  destination?: DestinationStream;
}

export class LogLevelError extends Error {
  readonly value: string;
  constructor(value: string) {
    super(`--log-level: must be one of ${LOG_LEVELS.join(', ')}, got ${JSON.stringify(value)}`);
    this.name = 'LogLevelError';
    this.value = value;
  }
}

export function parseLogLevel(value: string): LogLevel {
  const v = value.trim().toLowerCase();
  if ((LOG_LEVELS as readonly string[]).includes(v)) return v as LogLevel;
  throw new LogLevelError(value);
}

/** The shared `--log-level` option (env HERALD_LOG_LEVEL, default info) for both daemons. */
export function logLevelOption(): Option {
  return new Option('--log-level <level>', 'log level').choices(LOG_LEVELS).default('info').env('HERALD_LOG_LEVEL');
}

class PinoAdapter implements Logger {
  constructor(private readonly p: PinoLogger) {}

  get level(): LogLevel {
    return this.p.level as LogLevel;
  }

  child(fields: LogFields): Logger {
    return new PinoAdapter(this.p.child(fields));
  }

  isLevelEnabled(level: EmitLevel): boolean {
    return this.p.isLevelEnabled(level);
  }

  trace(fields: LogFields, msg?: string): void {
    this.p.trace(fields, msg);
  }
  debug(fields: LogFields, msg?: string): void {
    this.p.debug(fields, msg);
  }
  info(fields: LogFields, msg?: string): void {
    this.p.info(fields, msg);
  }
  warn(fields: LogFields, msg?: string): void {
    this.p.warn(fields, msg);
  }
  error(fields: LogFields, msg?: string): void {
    this.p.error(fields, msg);
  }
  fatal(fields: LogFields, msg?: string): void {
    this.p.fatal(fields, msg);
  }
}

/**
 * One JSON object per line: {"level":"info","time":"<ISO 8601>","component":...,<fields>,"msg":...}.
 * Level as its name (not pino's number) and no pid/hostname: `node` says where.
 */
export function createLogger(options: LoggerOptions): Logger {
  const p = pino(
    {
      level: options.level ?? 'info',
      base: { component: options.component },
      timestamp: stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: stdSerializers.err },
    },
    options.destination ?? destination({ dest: 1, sync: true }),
  );
  return new PinoAdapter(p);
}
