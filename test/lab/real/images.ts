// The real-cluster lab's container images, built here without any registry: a pause (sandbox)
// image, a small HTTP backend, and Herald's own image from the repository's Dockerfile. Each is
// built once per set of inputs with buildah and exported as a docker-archive tarball under
// IMAGE_CACHE_DIR, which `ctr -n k8s.io images import` loads into a node's containerd.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildStep, startBuildLog } from './build-step.js';
import { IMAGE_CACHE_DIR, defaultLog, inputHash, isCached, pruneOld, tarballPath, withBuildLock, type Log } from './image-cache.js';
import { ensureNodeBase, nodeBaseInputs } from './node-base.js';

export interface ImageRef {
  /** The full reference with its tag, as a pod spec (or the kubelet's --pod-infra-container-image) names it. */
  name: string;
  /** A docker-archive tarball that `ctr -n k8s.io images import` loads under `name`. */
  tarball: string;
}

export interface RealImages {
  pause: ImageRef;
  backend: ImageRef;
  herald: ImageRef;
}

export const PAUSE_IMAGE = 'localhost/herald-pause:1';
export const BACKEND_IMAGE = 'localhost/herald-backend:1';

const here = dirname(fileURLToPath(import.meta.url));
const SOURCES = join(here, 'images');
const REPO_ROOT = join(here, '..', '..', '..');

/** Builds (or finds in the cache) all three images. Progress lines go to `log` during a build. */
export async function ensureImages(log: Log = defaultLog): Promise<RealImages> {
  const pause = await ensurePauseImage(log);
  const backend = await ensureBackendImage(log);
  const herald = await ensureHeraldImage(log);
  return { pause, backend, herald };
}

/** `scratch` + a static binary: what a single-file image is made of (pause, backend). */
interface ScratchRecipe {
  kind: string;
  name: string;
  /** The binary's sources, hashed. */
  sources: string[];
  /** Compiles the sources into `out`. */
  compile: (out: string, log: Log, logFile: string) => Promise<void>;
  /** Path of the binary inside the image, also its entrypoint. */
  path: string;
  user: string;
  ports: number[];
}

export async function ensurePauseImage(log: Log = defaultLog): Promise<ImageRef> {
  const src = join(SOURCES, 'pause.c');
  return ensureScratchImage(
    {
      kind: 'pause',
      name: PAUSE_IMAGE,
      sources: [src],
      path: '/pause',
      // As upstream's pause image since 3.3: nothing in it needs root.
      user: '65535:65535',
      ports: [],
      compile: async (out, l, logFile) => {
        await buildStep('gcc', ['-static', '-Os', '-Wall', '-Wextra', '-Werror', '-o', out, src], { log: l, logFile, what: 'pause image' });
        await buildStep('strip', [out], { log: l, logFile, what: 'pause image' });
      },
    },
    [toolVersion('gcc', ['-dumpfullversion'])],
    log,
  );
}

export async function ensureBackendImage(log: Log = defaultLog): Promise<ImageRef> {
  const src = join(SOURCES, 'backend.go');
  const go = '/usr/lib/go-1.19/bin/go';
  return ensureScratchImage(
    {
      kind: 'backend',
      name: BACKEND_IMAGE,
      sources: [src],
      path: '/backend',
      user: '65534:65534',
      ports: [8080],
      compile: async (out, l, logFile) => {
        const env = {
          ...process.env,
          CGO_ENABLED: '0',
          GO111MODULE: 'off',
          GOFLAGS: '',
          GOCACHE: join(IMAGE_CACHE_DIR, 'go-build'),
        };
        await buildStep(go, ['build', '-trimpath', '-ldflags=-s -w', '-o', out, src], { log: l, logFile, what: 'backend image', env });
      },
    },
    [toolVersion(go, ['version'])],
    log,
  );
}

async function ensureScratchImage(r: ScratchRecipe, extraInputs: string[], log: Log): Promise<ImageRef> {
  const recipe = JSON.stringify({ name: r.name, path: r.path, user: r.user, ports: r.ports, v: 1 });
  const hash = inputHash([recipe, ...extraInputs, ...r.sources.map((s) => readFileSync(s))]);
  const tarball = tarballPath(r.kind, hash);
  if (isCached(tarball)) return { name: r.name, tarball };
  return withBuildLock(log, async () => {
    if (isCached(tarball)) return { name: r.name, tarball };
    const started = Date.now();
    log(`building ${r.name} (${r.kind}, inputs ${hash})`);
    const logFile = join(IMAGE_CACHE_DIR, `build-${r.kind}.log`);
    startBuildLog(logFile, `${r.name} (inputs ${hash})`);
    const work = join(IMAGE_CACHE_DIR, `.work-${r.kind}-${process.pid}`);
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    const step = { log, logFile, what: `${r.kind} image` };
    let container = '';
    try {
      const bin = join(work, 'bin');
      await r.compile(bin, log, logFile);
      container = await buildStep('buildah', ['from', '--name', `herald-${r.kind}-${hash}-${process.pid}`, 'scratch'], step);
      await buildStep('buildah', ['copy', '--chmod', '0755', container, bin, r.path], step);
      const config = ['--entrypoint', JSON.stringify([r.path]), '--cmd', '', '--user', r.user, '--label', `herald.inputs=${hash}`];
      for (const p of r.ports) config.push('--port', `${p}/tcp`);
      await buildStep('buildah', ['config', ...config, container], step);
      await buildStep('buildah', ['commit', '--rm', '-q', container, r.name], step);
      container = '';
      await exportTarball(r.name, tarball, step);
    } finally {
      if (container) await buildStep('buildah', ['rm', container], step).catch(() => undefined);
      rmSync(work, { recursive: true, force: true });
    }
    pruneOld(r.kind, 2);
    log(`built ${r.name} in ${secondsSince(started)} s: ${tarball} (${mib(tarball)} MiB)`);
    return { name: r.name, tarball };
  });
}

/** The chart's default image repository (charts/herald/values.yaml `image.repository`). */
function chartRepository(): string {
  const values = readFileSync(join(REPO_ROOT, 'charts', 'herald', 'values.yaml'), 'utf8');
  const m = /^image:\s*\n(?:[ \t]+.*\n)*?[ \t]+repository:[ \t]*["']?([^\s"']+)/m.exec(values);
  if (!m?.[1]) throw new Error('charts/herald/values.yaml: no image.repository');
  return m[1];
}

/** `ghcr.io/herald-lb/herald:<package.json version>`: the chart's default image, tag = appVersion. */
export function heraldImageName(): string {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version?: unknown };
  if (typeof pkg.version !== 'string') throw new Error('package.json: no version');
  return `${chartRepository()}:${pkg.version}`;
}

/**
 * What the Dockerfile copies from the build context: the sources of every `COPY` without `--from`,
 * expanded to the files under them, minus what .dockerignore leaves out of the context.
 */
export function heraldContextFiles(): string[] {
  const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const ignored = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const isIgnored = (rel: string): boolean =>
    ignored.some((pat) => {
      if (pat.startsWith('*.')) return rel.endsWith(pat.slice(1));
      return rel === pat || rel.startsWith(`${pat}/`);
    });
  const files = new Set<string>();
  const walk = (rel: string): void => {
    if (isIgnored(rel)) return;
    const abs = join(REPO_ROOT, rel);
    if (statSync(abs).isDirectory()) {
      for (const e of readdirSync(abs)) walk(join(rel, e));
    } else {
      files.add(rel);
    }
  };
  for (const line of dockerfile.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words[0]?.toUpperCase() !== 'COPY' || words.some((w) => w.startsWith('--from'))) continue;
    const args = words.slice(1).filter((w) => !w.startsWith('--'));
    for (const src of args.slice(0, -1)) walk(relative(REPO_ROOT, join(REPO_ROOT, src)));
  }
  return [...files].sort();
}

export async function ensureHeraldImage(log: Log = defaultLog): Promise<ImageRef> {
  const name = heraldImageName();
  const contextFiles = heraldContextFiles();
  const baseInputs = nodeBaseInputs();
  const hash = inputHash([
    name,
    'bud --layers v1',
    baseInputs,
    readFileSync(join(REPO_ROOT, 'Dockerfile')),
    readFileSync(join(REPO_ROOT, '.dockerignore')),
    existsSync(join(REPO_ROOT, '.npmrc')) ? readFileSync(join(REPO_ROOT, '.npmrc')) : '',
    ...contextFiles.flatMap((f) => [f, readFileSync(join(REPO_ROOT, f))]),
  ]);
  const tarball = tarballPath('herald', hash);
  if (isCached(tarball)) return { name, tarball };
  return withBuildLock(log, async () => {
    if (isCached(tarball)) return { name, tarball };
    const started = Date.now();
    const logFile = join(IMAGE_CACHE_DIR, 'build-herald.log');
    const step = { log, logFile, what: 'herald image' };
    await ensureNodeBase(log);
    startBuildLog(logFile, `${name} (inputs ${hash})`);
    log(`building ${name} from ${join(REPO_ROOT, 'Dockerfile')} (inputs ${hash}; npm ci and node-gyp inside, several minutes the first time)`);
    // --layers: the apt-get and `npm ci` steps come from buildah's cache while package-lock.json
    // and the base are unchanged, so a source change rebuilds only the compile steps.
    await buildStep(
      'buildah',
      [
        'bud',
        '--pull-never',
        '--network',
        'host',
        '--layers',
        ...buildNpmConfigVolumes(),
        '--label',
        `herald.inputs=${hash}`,
        '-t',
        name,
        '-f',
        join(REPO_ROOT, 'Dockerfile'),
        REPO_ROOT,
      ],
      { ...step, progress: /^(\[\d+\/\d+\] )?STEP \d+\/\d+/ },
    );
    await exportTarball(name, tarball, step);
    pruneOld('herald', 2);
    log(`built ${name} in ${secondsSince(started)} s: ${tarball} (${mib(tarball)} MiB)`);
    return { name, tarball };
  });
}

/** The host's CA bundle: what the host's own node and npm trust (NODE_EXTRA_CA_CERTS, else the system's). */
function hostCaBundle(): string | null {
  for (const f of [process.env.NODE_EXTRA_CA_CERTS, '/etc/ssl/certs/ca-certificates.crt']) {
    if (f && existsSync(f)) return f;
  }
  return null;
}

/**
 * Build-time npm configuration for the build stage's RUN steps, as bind mounts that never enter a
 * layer: the repository's .npmrc (omit=peer, which the Dockerfile does not copy) and the host's CA
 * bundle, since this machine reaches the npm registry through a TLS proxy with its own CA.
 */
function buildNpmConfigVolumes(): string[] {
  const lines: string[] = [];
  const repoNpmrc = join(REPO_ROOT, '.npmrc');
  if (existsSync(repoNpmrc)) lines.push(readFileSync(repoNpmrc, 'utf8'));
  const volumes: string[] = [];
  const ca = hostCaBundle();
  if (ca) {
    volumes.push('--volume', `${ca}:/etc/herald-build-ca.crt:ro`);
    lines.push('cafile=/etc/herald-build-ca.crt');
  }
  const npmrc = join(IMAGE_CACHE_DIR, 'build-npmrc');
  writeFileSync(npmrc, `${lines.join('\n')}\n`);
  // The base's npm prefix is /usr/local: this is its global config file.
  volumes.push('--volume', `${npmrc}:/usr/local/etc/npmrc:ro`);
  return volumes;
}

/** Writes the image as a docker-archive that keeps its name (ctr import tags it from manifest.json). */
async function exportTarball(name: string, tarball: string, step: Parameters<typeof buildStep>[2]): Promise<void> {
  const tmp = `${tarball}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  try {
    await buildStep('buildah', ['push', '-q', name, `docker-archive:${tmp}:${name}`], step);
    renameSync(tmp, tarball);
  } finally {
    rmSync(tmp, { force: true });
  }
}

function toolVersion(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8' }).trim();
  } catch (e) {
    throw new Error(`${cmd} is needed to build the lab's images (run \`make deps\`): ${(e as Error).message}`);
  }
}

function secondsSince(t: number): number {
  return Math.round((Date.now() - t) / 100) / 10;
}

function mib(path: string): number {
  return Math.round((statSync(path).size / 1048576) * 10) / 10;
}
