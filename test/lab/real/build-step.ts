// One command of an image build (buildah, mmdebstrap, gcc, go): its whole output goes to a log file
// in the cache, its progress lines (buildah's "STEP n/m") and a heartbeat go to the caller's log,
// and a failure throws with the output's tail.
import { spawn } from 'node:child_process';
import { appendFileSync, writeFileSync } from 'node:fs';
import type { Log } from './image-cache.js';

export interface StepOptions {
  log: Log;
  /** Appended with every line the command prints. */
  logFile: string;
  /** What the heartbeat says is running, e.g. "herald image". */
  what: string;
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /** Lines worth showing live; the rest is only in logFile. */
  progress?: RegExp;
  /** Bytes written to the command's stdin. */
  input?: string;
}

export class BuildError extends Error {
  override name = 'BuildError';
}

const HEARTBEAT_MS = 30_000;

/** Starts a build's log file afresh (one file per image: the last build's whole output). */
export function startBuildLog(logFile: string, what: string): void {
  writeFileSync(logFile, `# ${what}, ${new Date().toISOString()}\n`);
}

/** Runs `cmd args`, resolving with its stdout (trimmed). */
export async function buildStep(cmd: string, args: readonly string[], o: StepOptions): Promise<string> {
  appendFileSync(o.logFile, `\n$ ${cmd} ${args.join(' ')}\n`);
  const started = Date.now();
  const child = spawn(cmd, args, { cwd: o.cwd, env: o.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(o.input ?? '');
  let stdout = '';
  const tail: string[] = [];
  let lastProgress = '';
  const onLines = (chunk: string, isStdout: boolean): void => {
    if (isStdout) stdout += chunk;
    appendFileSync(o.logFile, chunk);
    for (const line of chunk.split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 30) tail.shift();
      if (o.progress?.test(line)) {
        lastProgress = line.slice(0, 160);
        o.log(`${o.what}: ${lastProgress}`);
      }
    }
  };
  child.stdout.setEncoding('utf8').on('data', (c: string) => onLines(c, true));
  child.stderr.setEncoding('utf8').on('data', (c: string) => onLines(c, false));
  const beat = setInterval(() => {
    const s = Math.round((Date.now() - started) / 1000);
    o.log(`${o.what}: still running ${cmd} (${s} s${lastProgress ? `, at ${lastProgress.slice(0, 80)}` : ''}; full log ${o.logFile})`);
  }, HEARTBEAT_MS);
  const status = await new Promise<number | string>((resolve) => {
    child.on('error', (e) => resolve(e.message));
    child.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  }).finally(() => clearInterval(beat));
  if (status !== 0) {
    throw new BuildError(`${o.what}: ${cmd} ${args.join(' ')} failed (${status}); last lines:\n${tail.join('\n')}\n(full log ${o.logFile})`);
  }
  return stdout.trim();
}
