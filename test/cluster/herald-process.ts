// A `node dist/cli/herald.js <command>` child for cluster tests and benchmarks: its stdout JSON
// lines are handed to the subclass (logs, or the speaker's balancer records), waited for by
// predicate, and the process is killed on request. ControllerProcess and SpeakerProcess build on it.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onLines } from './lines.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const HERALD_BIN = join(root, 'dist', 'cli', 'herald.js');

export type LogLine = Record<string, unknown> & { event?: string; msg?: string; service?: string; ip?: string; reason?: string };

export abstract class HeraldProcess {
  readonly child: ChildProcess;
  private stderr = '';
  private readonly exited: Promise<number | string>;
  private waiters: (() => void)[] = [];
  private closed = false;

  /** `label` names the process in errors, e.g. "controller" or "speaker node1". */
  constructor(
    private readonly label: string,
    args: readonly string[],
    opts: { nodeArgs?: readonly string[]; env?: Record<string, string> } = {},
  ) {
    if (!existsSync(HERALD_BIN)) throw new Error(`${HERALD_BIN} is missing: run make build first`);
    // KUBECONFIG is cleared so only --kubeconfig counts.
    this.child = spawn(process.execPath, [...(opts.nodeArgs ?? []), HERALD_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, KUBECONFIG: '', ...opts.env } });
    onLines(this.child.stdout, (line) => {
      let parsed: Record<string, unknown>;
      try {
        parsed = JSON.parse(line) as Record<string, unknown>;
      } catch {
        parsed = { msg: line };
      }
      this.accept(parsed);
      for (const w of this.waiters.splice(0)) w();
    });
    this.child.stderr?.setEncoding('utf8').on('data', (c: string) => (this.stderr += c));
    // 'close', not 'exit': 'exit' can come before the last stdout lines are read (a final log line
    // or record then seemed missing to whoever looked right after the exit).
    this.exited = new Promise((resolve) =>
      this.child.on('close', (code, signal) => {
        this.closed = true;
        resolve(code ?? signal ?? 'unknown');
        for (const w of this.waiters.splice(0)) w();
      }),
    );
  }

  /** One parsed stdout line (a non-JSON line arrives as {msg}). */
  protected abstract accept(line: Record<string, unknown>): void;

  /** The last log lines, for timeout messages. */
  protected abstract recentLines(): readonly unknown[];

  get pid(): number {
    return this.child.pid as number;
  }

  /** Until the process has exited and all its output has been read. */
  get running(): boolean {
    return !this.closed;
  }

  get stderrText(): string {
    return this.stderr;
  }

  /** Resolves with the first item of `list()` matching `pred` (already seen or future); rejects after `timeoutMs` or on exit. */
  protected async waitIn<T>(list: () => readonly T[], what: string, pred: (l: T) => boolean, timeoutMs: number): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let seen = 0;
    for (;;) {
      const items = list();
      for (; seen < items.length; seen++) if (pred(items[seen])) return items[seen];
      if (!this.running) throw new Error(`${this.label} exited (${this.child.exitCode ?? this.child.signalCode}) before ${what}; stderr: ${this.stderr.slice(-2000)}`);
      const left = deadline - Date.now();
      if (left <= 0) {
        const recent = this.recentLines().map((l) => JSON.stringify(l)).join('\n');
        throw new Error(`${this.label}: timed out after ${timeoutMs} ms waiting for ${what}; last lines:\n${recent}\nstderr: ${this.stderr.slice(-1000)}`);
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** The /metrics base URL from the start-up log. */
  async metricsUrl(): Promise<string> {
    return String((await this.waitForLog('metrics address', (l) => l.event === 'metricsListening')).reason);
  }

  abstract waitForLog(what: string, pred: (l: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;

  /** Sends `signal` and waits for the exit. */
  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | string> {
    if (this.running) this.child.kill(signal);
    return this.exited;
  }
}
