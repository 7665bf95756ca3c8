// Finds and loads our N-API addons (build/Release/<name>.node, built by `make build` from
// binding.gyp). Found by walking up from this file, so it works from protocols/ (tsx, vitest)
// and from dist/protocols/ (the built CLI).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The addon's path, or null when it has not been built. */
export function findAddon(file: string): string | null {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const candidate = join(dir, 'build', 'Release', file);
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return null;
}

/** Loads the addon, or returns an Error saying why it is not available (never throws). */
export function loadAddon<T>(file: string, label: string): T | Error {
  const path = findAddon(file);
  if (path === null) return new Error(`${label} addon ${file} not found under build/Release: run \`make build\``);
  try {
    return createRequire(import.meta.url)(path) as T;
  } catch (e) {
    return new Error(`${label} addon ${path} failed to load: ${(e as Error).message}`);
  }
}
