// `node:20-slim` made here, since no registry is reachable: a Debian bookworm minbase rootfs
// (mmdebstrap, from the archive this machine's apt uses) plus the host's Node 20, laid out as the
// official image lays it out, and tagged with the name the Dockerfile's `FROM node:20-slim` resolves
// to in buildah's local storage.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildStep, startBuildLog } from './build-step.js';
import { IMAGE_CACHE_DIR, inputHash, isCached, pruneOld, type Log } from './image-cache.js';

export const NODE_BASE_IMAGE = 'docker.io/library/node:20-slim';

/** The host's Node 20, as Debian's nodejs / NodeSource lay it out. */
const HOST_NODE = '/usr/bin/node';
const HOST_NPM = '/usr/lib/node_modules/npm';
const HOST_HEADERS = '/usr/include/node';

/** Where the host's apt finds Debian: the rootfs comes from the same archive. */
function aptSources(): string {
  for (const f of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    if (existsSync(f) && readFileSync(f, 'utf8').trim()) return f;
  }
  throw new Error('no Debian archive in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list');
}

// bookworm-slim's dpkg filter: no man pages, docs or translations (also for later apt-get installs).
const SLIM_DPKG = [
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/locale/*',
  'path-include=/usr/share/locale/locale.alias',
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
];

const ROOTFS_RECIPE = JSON.stringify({ suite: 'bookworm', variant: 'minbase', dpkg: SLIM_DPKG, v: 1 });

// The official image's entrypoint: `docker run node:20-slim -e '...'` runs node with those flags.
const ENTRYPOINT_SCRIPT = `#!/bin/sh
set -e
if [ "\${1#-}" != "\${1}" ] || [ -z "$(command -v "\${1}" 2>/dev/null)" ]; then
  set -- node "$@"
fi
exec "$@"
`;

function hostVersions(): { node: string; npm: string } {
  for (const p of [HOST_NODE, HOST_NPM, HOST_HEADERS]) {
    if (!existsSync(p)) throw new Error(`the node base image needs the host's Node 20: ${p} is missing`);
  }
  const node = execFileSync(HOST_NODE, ['--version'], { encoding: 'utf8' }).trim();
  if (!node.startsWith('v20.')) throw new Error(`the node:20-slim base needs Node 20 at ${HOST_NODE}, found ${node}`);
  const npm = (JSON.parse(readFileSync(join(HOST_NPM, 'package.json'), 'utf8')) as { version: string }).version;
  return { node, npm };
}

/** What the base image is made from; part of the Herald image's cache key. */
export function nodeBaseInputs(): string {
  const v = hostVersions();
  return inputHash([ROOTFS_RECIPE, readFileSync(aptSources()), v.node, v.npm, ENTRYPOINT_SCRIPT, 'user node 1000 v1']);
}

function baseLabel(): string | null {
  try {
    const out = execFileSync('buildah', ['inspect', '--type', 'image', NODE_BASE_IMAGE], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    const img = JSON.parse(out) as { OCIv1?: { config?: { Labels?: Record<string, string> } } };
    return img.OCIv1?.config?.Labels?.['herald.inputs'] ?? null;
  } catch {
    return null;
  }
}

/**
 * Makes NODE_BASE_IMAGE in buildah's storage unless it is there from the same inputs.
 * The caller holds the image build lock.
 */
export async function ensureNodeBase(log: Log): Promise<void> {
  const hash = nodeBaseInputs();
  if (baseLabel() === hash) return;
  const started = Date.now();
  const logFile = join(IMAGE_CACHE_DIR, 'build-node-base.log');
  const step = { log, logFile, what: 'node:20-slim base' };
  startBuildLog(logFile, `${NODE_BASE_IMAGE} (inputs ${hash})`);
  const rootfs = await ensureRootfs(log, logFile);
  const { node, npm } = hostVersions();
  log(`making ${NODE_BASE_IMAGE} from ${rootfs} and the host's node ${node} / npm ${npm}`);
  const staging = join(IMAGE_CACHE_DIR, `.work-node-base-${process.pid}`);
  rmSync(staging, { recursive: true, force: true });
  let container = '';
  try {
    // /usr/local as the official image has it.
    const local = join(staging, 'local');
    mkdirSync(join(local, 'bin'), { recursive: true });
    mkdirSync(join(local, 'lib', 'node_modules'), { recursive: true });
    mkdirSync(join(local, 'include'), { recursive: true });
    execFileSync('cp', ['-a', HOST_NODE, join(local, 'bin', 'node')]);
    execFileSync('cp', ['-a', HOST_NPM, join(local, 'lib', 'node_modules', 'npm')]);
    execFileSync('cp', ['-a', HOST_HEADERS, join(local, 'include', 'node')]);
    symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(local, 'bin', 'npm'));
    symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(local, 'bin', 'npx'));
    writeFileSync(join(local, 'bin', 'docker-entrypoint.sh'), ENTRYPOINT_SCRIPT, { mode: 0o755 });

    container = await buildStep('buildah', ['from', '--name', `herald-node-base-${hash}-${process.pid}`, 'scratch'], step);
    await buildStep('buildah', ['add', container, rootfs, '/'], step);
    await buildStep('buildah', ['copy', container, local, '/usr/local'], step);
    await buildStep(
      'buildah',
      [
        'run',
        '--network',
        'none',
        container,
        '--',
        'sh',
        '-c',
        'groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node && node --version && npm --version',
      ],
      step,
    );
    const config = [
      '--env',
      'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
      '--env',
      `NODE_VERSION=${node.slice(1)}`,
      '--entrypoint',
      '["docker-entrypoint.sh"]',
      '--cmd',
      'node',
      '--label',
      `herald.inputs=${hash}`,
    ];
    await buildStep('buildah', ['config', ...config, container], step);
    await buildStep('buildah', ['commit', '--rm', '-q', container, NODE_BASE_IMAGE], step);
    container = '';
  } finally {
    if (container) await buildStep('buildah', ['rm', container], step).catch(() => undefined);
    rmSync(staging, { recursive: true, force: true });
  }
  log(`made ${NODE_BASE_IMAGE} in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** A bookworm minbase rootfs tarball, cached (mmdebstrap takes a minute or two). */
async function ensureRootfs(log: Log, logFile: string): Promise<string> {
  const sources = aptSources();
  const hash = inputHash([ROOTFS_RECIPE, readFileSync(sources)]);
  const tarball = join(IMAGE_CACHE_DIR, `bookworm-minbase-${hash}.tar`);
  if (isCached(tarball)) return tarball;
  log(`mmdebstrap: a bookworm minbase rootfs from the archive in ${sources}`);
  const tmp = `${tarball}.tmp-${process.pid}.tar`;
  try {
    await buildStep(
      'mmdebstrap',
      ['--variant=minbase', '--format=tar', ...SLIM_DPKG.map((o) => `--dpkgopt=${o}`), 'bookworm', tmp, sources],
      { log, logFile, what: 'bookworm rootfs', progress: /^I: / },
    );
    execFileSync('mv', [tmp, tarball]);
  } finally {
    rmSync(tmp, { force: true });
  }
  pruneOld('bookworm-minbase', 1);
  return tarball;
}
