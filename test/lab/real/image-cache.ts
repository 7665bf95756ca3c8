// The cache of built image tarballs: one file per image and input hash under IMAGE_CACHE_DIR, and
// one build lock (flock) so parallel callers (several vitest workers, the demo) wait for the build
// already running instead of starting their own.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';

/** Where the tarballs live; outside the repository so later runs and sessions on the machine reuse them. */
export const IMAGE_CACHE_DIR = process.env.HERALD_IMAGE_CACHE ?? '/var/cache/herald/images';

export type Log = (line: string) => void;

export function defaultLog(line: string): void {
  process.stderr.write(`[images] ${line}\n`);
}

/** A short hex digest of the build's inputs: change any input and the image is built again. */
export function inputHash(parts: readonly (string | Buffer)[]): string {
  const h = createHash('sha256');
  for (const p of parts) {
    // Length-prefixed so ("ab","c") and ("a","bc") differ.
    const b = typeof p === 'string' ? Buffer.from(p) : p;
    h.update(`${b.length}:`);
    h.update(b);
  }
  return h.digest('hex').slice(0, 16);
}

/** The tarball path of image `kind` built from inputs hashing to `hash`. */
export function tarballPath(kind: string, hash: string): string {
  return join(IMAGE_CACHE_DIR, `${kind}-${hash}.tar`);
}

/** True when the tarball exists and is not empty (a build writes a temporary name, then renames). */
export function isCached(path: string): boolean {
  try {
    return statSync(path).size > 0;
  } catch {
    return false;
  }
}

/** Removes all but the `keep` newest tarballs of `kind` (a Herald tarball is hundreds of MB). */
export function pruneOld(kind: string, keep: number): void {
  const mine = readdirSync(IMAGE_CACHE_DIR)
    .filter((f) => f.startsWith(`${kind}-`) && f.endsWith('.tar'))
    .map((f) => ({ path: join(IMAGE_CACHE_DIR, f), mtime: statSync(join(IMAGE_CACHE_DIR, f)).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime);
  for (const old of mine.slice(keep)) unlinkSync(old.path);
}

/**
 * Runs `fn` holding the cache's build lock. The lock is held by a `flock` child that lives until its
 * stdin closes, so it is released when `fn` ends and also when this process dies.
 */
export async function withBuildLock<T>(log: Log, fn: () => Promise<T>): Promise<T> {
  mkdirSync(IMAGE_CACHE_DIR, { recursive: true });
  const lockFile = join(IMAGE_CACHE_DIR, '.build.lock');
  const holder = spawn('flock', ['-x', lockFile, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  holder.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  const waiting = setTimeout(() => log(`waiting for the image build lock ${lockFile} (another build is running)`), 2_000);
  try {
    await new Promise<void>((resolve, reject) => {
      holder.on('error', reject);
      holder.on('close', (code) => reject(new Error(`flock ${lockFile} exited (${code}): ${stderr.trim()}`)));
      holder.stdout.setEncoding('utf8').on('data', (c: string) => {
        if (c.includes('locked')) resolve();
      });
    });
  } finally {
    clearTimeout(waiting);
  }
  try {
    return await fn();
  } finally {
    holder.stdin.end();
  }
}
