// The real-cluster lab's images: built (or found in the cache), imported into a private containerd
// the way a node's is loaded, and run there with runc: the pause process stops on SIGTERM, the
// backend answers with its pod and node name, Herald's entrypoint prints its version and help.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { signalPid } from '../../cluster/pids.js';
import { eventually } from '../eventually.js';
import { describeLab } from '../netns.js';
import { ensureImages, heraldImageName, type RealImages } from './images.js';

const execFileP = promisify(execFile);

/** ctr against the test's own containerd, in a namespace of its own (its cgroups are /<ns>/<id>). */
interface Ctrd {
  dir: string;
  socket: string;
  ns: string;
  proc: ChildProcess;
}

async function ctr(c: Ctrd, args: string[], timeout = 120_000): Promise<string> {
  const { stdout } = await execFileP('ctr', ['-a', c.socket, '-n', c.ns, ...args], { encoding: 'utf8', timeout });
  return stdout;
}

async function startContainerd(): Promise<Ctrd> {
  const dir = mkdtempSync('/tmp/herald-images-ctrd-');
  const socket = join(dir, 'containerd.sock');
  // No CRI plugin: only images, snapshots and tasks are needed, and nothing here may meet the
  // real-cluster lab's kubelets.
  writeFileSync(
    join(dir, 'config.toml'),
    [
      'version = 2',
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${socket}"`,
      '[ttrpc]',
      `  address = "${socket}.ttrpc"`,
      '[debug]',
      '  address = ""',
      '[metrics]',
      '  address = ""',
      '',
    ].join('\n'),
  );
  const proc = spawn('containerd', ['--config', join(dir, 'config.toml')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  proc.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-4000)));
  const c: Ctrd = { dir, socket, ns: `herald-images-${randomBytes(3).toString('hex')}`, proc };
  await eventually(
    'containerd to serve',
    async () => {
      if (proc.exitCode !== null) throw new Error(`containerd exited: ${stderr}`);
      return existsSync(socket);
    },
    30_000,
  );
  return c;
}

async function stopContainerd(c: Ctrd): Promise<void> {
  const tasks = await ctr(c, ['tasks', 'ls', '-q']).catch(() => '');
  for (const id of tasks.split('\n').filter(Boolean)) {
    await ctr(c, ['tasks', 'kill', '-s', 'SIGKILL', id]).catch(() => undefined);
    await ctr(c, ['tasks', 'delete', '-f', id]).catch(() => undefined);
  }
  if (c.proc.pid !== undefined && c.proc.exitCode === null) {
    signalPid(c.proc.pid, 'SIGTERM');
    await eventually('containerd to stop', async () => c.proc.exitCode !== null || c.proc.signalCode !== null, 20_000).catch(() => {
      if (c.proc.pid !== undefined) signalPid(c.proc.pid, 'SIGKILL');
    });
  }
  // Whatever the snapshotter left mounted under our directory, deepest first.
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(c.dir))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await execFileP('umount', ['-l', m]).catch(() => undefined);
  rmSync(c.dir, { recursive: true, force: true });
  rmSync(`/run/containerd/runc/${c.ns}`, { recursive: true, force: true });
  for (const h of readdirSync('/sys/fs/cgroup')) {
    const parent = join('/sys/fs/cgroup', h, c.ns);
    if (!existsSync(parent)) continue;
    // runc removes the tasks' own cgroups; the namespace's parent (and any straggler) stays.
    const children = readdirSync(parent, { withFileTypes: true }).filter((d) => d.isDirectory());
    for (const d of children) await execFileP('rmdir', [join(parent, d.name)]).catch(() => undefined);
    await execFileP('rmdir', [parent]).catch(() => undefined);
  }
}

/**
 * Runs `image` as a task to its end, in a new (empty) network namespace; resolves with its output and
 * exit code. `args`, when given, replace the image's Entrypoint and Cmd (ctr's rule).
 */
async function runToEnd(c: Ctrd, image: string, args: string[]): Promise<{ out: string; code: number | null }> {
  const id = `t${randomBytes(4).toString('hex')}`;
  return new Promise((resolve, reject) => {
    const p = spawn('ctr', ['-a', c.socket, '-n', c.ns, 'run', '--rm', image, id, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
    p.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
    p.on('error', reject);
    p.on('close', (code) => resolve({ out, code }));
  });
}

/** Starts `image` as a long-running task; resolves once it runs, with its host PID and its end. */
async function runDetached(
  c: Ctrd,
  image: string,
  env: string[] = [],
): Promise<{ id: string; pid: number; ended: Promise<{ out: string; code: number | null }> }> {
  const id = `t${randomBytes(4).toString('hex')}`;
  const p = spawn('ctr', ['-a', c.socket, '-n', c.ns, 'run', '--rm', ...env.flatMap((e) => ['--env', e]), image, id], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  p.stderr.setEncoding('utf8').on('data', (s: string) => (out += s));
  const ended = new Promise<{ out: string; code: number | null }>((resolve) => p.on('close', (code) => resolve({ out, code })));
  const pid = await eventually(`task ${id} of ${image} to run`, async () => {
    if (p.exitCode !== null) throw new Error(`ctr run ${image} exited ${p.exitCode}: ${out}`);
    const line = (await ctr(c, ['tasks', 'ls'])).split('\n').find((l) => l.startsWith(`${id} `));
    const [, pidText, status] = line?.trim().split(/\s+/) ?? [];
    return status === 'RUNNING' && pidText ? Number(pidText) : null;
  });
  return { id, pid, ended };
}

/** The image config (Entrypoint, Cmd, User, Env) stored in a docker-archive tarball. */
async function imageConfig(tarball: string): Promise<{ Entrypoint?: string[]; Cmd?: string[]; User?: string; Env?: string[] }> {
  const { stdout: manifest } = await execFileP('tar', ['-xOf', tarball, 'manifest.json'], { encoding: 'utf8' });
  const [entry] = JSON.parse(manifest) as { Config: string; RepoTags: string[] }[];
  if (!entry) throw new Error(`${tarball}: empty manifest.json`);
  const { stdout } = await execFileP('tar', ['-xOf', tarball, entry.Config], { encoding: 'utf8', maxBuffer: 64 << 20 });
  return (JSON.parse(stdout) as { config: { Entrypoint?: string[]; Cmd?: string[]; User?: string; Env?: string[] } }).config;
}

describeLab('real-cluster images: built without a registry, loaded into containerd, run by runc', () => {
  let images: RealImages;
  let c: Ctrd | undefined;

  beforeAll(async () => {
    const t = Date.now();
    // A cold build (bookworm rootfs, npm ci, node-gyp) takes ~10 minutes on a loaded 2-core machine.
    images = await ensureImages((l) => process.stderr.write(`[images] ${l}\n`));
    process.stderr.write(`[images] ensureImages() took ${Date.now() - t} ms\n`);
    for (const [k, ref] of Object.entries(images)) {
      process.stderr.write(`[images] ${k}: ${ref.name} ${(statSync(ref.tarball).size / 1048576).toFixed(1)} MiB (${ref.tarball})\n`);
    }
    c = await startContainerd();
  }, 40 * 60_000);

  afterAll(async () => {
    if (c) await stopContainerd(c);
  }, 60_000);

  it('every tarball imports into containerd under its name', async () => {
    if (!c) throw new Error('no containerd');
    for (const ref of Object.values(images)) await ctr(c, ['images', 'import', ref.tarball]);
    const names = (await ctr(c, ['images', 'ls', '-q'])).split('\n');
    expect(names).toEqual(expect.arrayContaining([images.pause.name, images.backend.name, images.herald.name]));
    expect(images.herald.name).toBe(heraldImageName());
    expect(images.herald.name).toMatch(/^ghcr\.io\/herald-lb\/herald:\d+\.\d+\.\d+/);
  });

  it('pause runs until SIGTERM, then exits 0', async () => {
    if (!c) throw new Error('no containerd');
    expect((await imageConfig(images.pause.tarball)).Entrypoint).toEqual(['/pause']);
    const task = await runDetached(c, images.pause.name);
    await ctr(c, ['tasks', 'kill', '-s', 'SIGTERM', task.id]);
    const end = await task.ended;
    expect(end.code, end.out).toBe(0);
  });

  it('the backend answers HTTP on 8080 with its pod and node name', async () => {
    if (!c) throw new Error('no containerd');
    const task = await runDetached(c, images.backend.name, ['POD_NAME=web-1', 'NODE_NAME=node-a']);
    // Inside the task's own network namespace (made by containerd for it): only its loopback.
    const body = await eventually('the backend to answer', async () => {
      const r = await execFileP('nsenter', [`--net=/proc/${task.pid}/ns/net`, 'curl', '-s', '--max-time', '3', 'http://127.0.0.1:8080/'], {
        encoding: 'utf8',
      }).catch(() => null);
      return r?.stdout;
    });
    expect(body).toBe('pod=web-1 node=node-a\n');
    await ctr(c, ['tasks', 'kill', '-s', 'SIGTERM', task.id]);
    expect((await task.ended).code).toBe(0);
  });

  it("herald's entrypoint prints its version and help, as uid 1000 on the node:20-slim layout", async () => {
    if (!c) throw new Error('no containerd');
    const config = await imageConfig(images.herald.tarball);
    expect(config.Entrypoint).toEqual(['node', '/app/dist/cli/herald.js']);
    expect(config.User).toBe('1000:1000');
    expect(config.Env).toEqual(expect.arrayContaining(['NODE_ENV=production', expect.stringMatching(/^NODE_VERSION=20\./)]));
    const pkg = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'package.json'), 'utf8')) as { version: string };
    // ctr's arguments replace the whole command (a pod's `args` would replace only Cmd): the
    // entrypoint from the image config, then --version.
    const version = await runToEnd(c, images.herald.name, [...(config.Entrypoint ?? []), '--version']);
    expect(version.code, version.out).toBe(0);
    expect(version.out.trim()).toBe(pkg.version);
    // No arguments: the image's own Entrypoint and Cmd (["--help"]).
    const help = await runToEnd(c, images.herald.name, []);
    expect(help.code, help.out).toBe(0);
    expect(help.out).toMatch(/Usage: herald/);
    expect(help.out).toMatch(/speaker/);
    // The base's layout, as the official image has it.
    const mnt = mkdtempSync('/tmp/herald-images-mnt-');
    try {
      await ctr(c, ['images', 'mount', images.herald.name, mnt]);
      try {
        expect(readFileSync(join(mnt, 'etc/passwd'), 'utf8')).toMatch(/^node:x:1000:1000::\/home\/node:\/bin\/bash$/m);
        for (const f of ['usr/local/bin/node', 'usr/local/include/node/node_api.h', 'usr/local/lib/node_modules/npm/bin/npm-cli.js', 'app/build/Release/herald_tcp_md5.node']) {
          expect(existsSync(join(mnt, f)), f).toBe(true);
        }
        const { stdout } = await execFileP('readlink', [join(mnt, 'usr/local/bin/npm')], { encoding: 'utf8' });
        expect(stdout.trim()).toBe('../lib/node_modules/npm/bin/npm-cli.js');
      } finally {
        await ctr(c, ['images', 'unmount', mnt]).catch(() => undefined);
      }
    } finally {
      rmSync(mnt, { recursive: true, force: true });
    }
  });
});
