// The real-cluster lab's image cache: what invalidates the Herald image, and that the build lock
// makes parallel callers wait (two flock holders in one process stand for two test workers).
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const cacheDir = mkdtempSync(join(tmpdir(), 'herald-image-cache-'));
process.env.HERALD_IMAGE_CACHE = cacheDir;
const cache = await import('../../lab/real/image-cache.js');
const images = await import('../../lab/real/images.js');

afterAll(() => rmSync(cacheDir, { recursive: true, force: true }));

describe('herald image inputs', () => {
  it("are the files the Dockerfile's COPY lines take from the context, minus .dockerignore", () => {
    const files = images.heraldContextFiles();
    expect(files).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'binding.gyp', 'tsconfig.build.json', 'cli/herald.ts']));
    for (const dir of ['allocator/', 'controller/', 'speaker/', 'protocols/', 'config/', 'kube/']) {
      expect(files.some((f) => f.startsWith(dir)), dir).toBe(true);
    }
    expect(files.filter((f) => /^(node_modules|dist|build|test|charts)\//.test(f) || f.endsWith('.log'))).toEqual([]);
  });

  it("name the chart's default repository with package.json's version as tag", () => {
    const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { version: string };
    const values = readFileSync('charts/herald/values.yaml', 'utf8');
    const [repo, tag] = images.heraldImageName().split(/:(?=[^:]+$)/);
    expect(values).toContain(`repository: ${repo}`);
    expect(tag).toBe(pkg.version);
  });

  it('hash with length prefixes: moving a byte between parts changes the key', () => {
    expect(cache.inputHash(['ab', 'c'])).not.toBe(cache.inputHash(['a', 'bc']));
    expect(cache.inputHash(['ab', 'c'])).toBe(cache.inputHash(['ab', Buffer.from('c')]));
    expect(cache.tarballPath('herald', 'x')).toBe(join(cacheDir, 'herald-x.tar'));
  });
});

describe('image build lock', () => {
  it('lets one holder in at a time and releases when the holder ends, even by throwing', async () => {
    const events: string[] = [];
    const hold = (name: string, ms: number, fail = false) =>
      cache.withBuildLock(
        () => undefined,
        async () => {
          events.push(`${name} in`);
          await new Promise((r) => setTimeout(r, ms));
          events.push(`${name} out`);
          if (fail) throw new Error(`${name} failed`);
          return name;
        },
      );
    const a = hold('a', 400, true);
    while (!events.includes('a in')) await new Promise((r) => setTimeout(r, 10));
    const b = hold('b', 10);
    await expect(a).rejects.toThrow('a failed');
    await expect(b).resolves.toBe('b');
    expect(events).toEqual(['a in', 'a out', 'b in', 'b out']);
  });
});
