// Runs the built `herald bgp announce` inside a lab namespace and follows its JSON-line log.
import { existsSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onLines } from '../cluster/lines.js';
import type { Lab } from './netns.js';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const HERALD_CLI = join(REPO_ROOT, 'dist', 'cli', 'herald.js');

/** Throws when the CLI has not been built (`make build`; `make test` builds before vitest). */
export function assertCliBuilt(): void {
  if (!existsSync(HERALD_CLI)) throw new Error(`${HERALD_CLI} is missing: run \`make build\` first`);
}

export interface LogLine {
  time: number;
  level: number;
  msg: string;
  event?: string;
  [key: string]: unknown;
}

export class Speaker {
  readonly lines: LogLine[] = [];
  readonly stderr: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly waiters = new Set<() => void>();
  /** Exited, and all its output read. */
  private closed = false;

  constructor(
    readonly host: string,
    readonly child: ChildProcess,
  ) {
    onLines(child.stdout, (line) => {
      try {
        this.lines.push(JSON.parse(line) as LogLine);
      } catch {
        this.stderr.push(`stdout: ${line}`);
      }
      for (const w of this.waiters) w();
    });
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (d: string) => {
      this.stderr.push(d);
      for (const w of this.waiters) w();
    });
    // 'close', not 'exit': 'exit' can come before the last stdout lines are read.
    this.exited = new Promise((resolve) =>
      child.once('close', (code, signal) => {
        this.closed = true;
        resolve({ code, signal });
        [...this.waiters].forEach((w) => w());
      }),
    );
  }

  /** The first log line (from index `from`) matching pred; rejects on timeout or exit, with the log. */
  waitForLog(what: string, pred: (l: LogLine) => boolean, timeoutMs = 20_000, from = 0): Promise<LogLine> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        const hit = this.lines.slice(from).find(pred);
        if (hit) return done(() => resolve(hit));
        if (this.closed) done(() => reject(new Error(`${this.host}: speaker exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}\n${this.dump()}`)));
      };
      const timer = setTimeout(() => done(() => reject(new Error(`${this.host}: timed out after ${timeoutMs} ms waiting for ${what}\n${this.dump()}`))), timeoutMs);
      const done = (f: () => void): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        f();
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Waits for the session to be Established (counting from log line `from`); generous: a loaded machine is slow, not wrong. */
  established(timeoutMs = 60_000, from = 0): Promise<LogLine> {
    return this.waitForLog('established', (l) => l.event === 'established', timeoutMs, from);
  }

  /** Sends a signal and waits for the exit. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  dump(): string {
    return [...this.lines.slice(-40).map((l) => JSON.stringify(l)), ...this.stderr.slice(-20)].join('\n');
  }
}

/** Starts `herald bgp announce ARGS` in the host's namespace. */
export function startSpeaker(lab: Lab, host: string, args: string[]): Speaker {
  assertCliBuilt();
  const child = lab.spawn(host, process.execPath, [HERALD_CLI, 'bgp', 'announce', ...args]);
  return new Speaker(host, child);
}
