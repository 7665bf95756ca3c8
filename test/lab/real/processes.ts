// Processes of the real cluster: started detached with their output in a log file, known by pid,
// and found again at teardown by the namespaces and cgroups the cluster created (never by name).
import { closeSync, existsSync, openSync, readFileSync, readdirSync, readlinkSync, rmdirSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { alive, signalPid } from '../../cluster/pids.js';

export class RealClusterError extends Error {
  override readonly name = 'RealClusterError';
}

/** Starts `argv` detached (it outlives a crashed test process until teardown), output appended to `logFile`; returns its pid. */
export function startDetached(argv: string[], logFile: string, env: Record<string, string> = {}): number {
  const fd = openSync(logFile, 'a');
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', fd, fd], detached: true, env: { ...process.env, ...env } });
  closeSync(fd);
  child.on('error', () => undefined); // seen through the readiness waits and the log
  child.unref();
  if (!child.pid) throw new RealClusterError(`could not start ${argv.join(' ')}`);
  return child.pid;
}

/** The identity of a process's namespace (`mnt`, `net`), or null when the process is gone. */
export function namespaceOf(pid: number, kind: 'mnt' | 'net'): string | null {
  try {
    return readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return null;
  }
}

/** The identity of a lab network namespace (`net:[inode]`, as namespaceOf names it), or null. */
export function netnsIdentity(ns: string): string | null {
  try {
    return `net:[${statSync(`/run/netns/${ns}`).ino}]`;
  } catch {
    return null;
  }
}

/** Every pid whose namespace of `kind` is `ns` (as namespaceOf names it). */
export function pidsInNamespace(kind: 'mnt' | 'net', ns: string): number[] {
  const out: number[] = [];
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    if (namespaceOf(Number(e), kind) === ns) out.push(Number(e));
  }
  return out;
}

/** The v1 hierarchies (and `unified`) under /sys/fs/cgroup, each a directory (not the cpu,cpuacct links). */
export function cgroupHierarchies(): string[] {
  const root = '/sys/fs/cgroup';
  if (!existsSync(root)) return [];
  return readdirSync(root).filter((d) => {
    try {
      return statSync(join(root, d)).isDirectory() && !readlinkOrNull(join(root, d));
    } catch {
      return false;
    }
  });
}

function readlinkOrNull(p: string): string | null {
  try {
    return readlinkSync(p);
  } catch {
    return null;
  }
}

/** Every task under cgroup `name` (recursively) in any hierarchy. */
export function pidsInCgroup(name: string): number[] {
  const pids = new Set<number>();
  const walk = (dir: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    try {
      for (const l of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (l) pids.add(Number(l));
    } catch {
      /* not a cgroup directory */
    }
    for (const e of entries) {
      const p = join(dir, e);
      try {
        if (statSync(p).isDirectory()) walk(p);
      } catch {
        /* removed meanwhile */
      }
    }
  };
  for (const h of cgroupHierarchies()) walk(join('/sys/fs/cgroup', h, name));
  return [...pids];
}

/** Removes cgroup `name` with everything below it (deepest first) in every hierarchy; the tasks must be gone. */
export function removeCgroup(name: string): void {
  const remove = (dir: string): void => {
    let entries: string[];
    try {
      entries = readdirSync(dir);
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e);
      try {
        if (statSync(p).isDirectory()) remove(p);
      } catch {
        /* gone */
      }
    }
    for (let i = 0; i < 50; i++) {
      try {
        rmdirSync(dir);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
        // EBUSY while a killed task is still exiting.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      }
    }
  };
  for (const h of cgroupHierarchies()) remove(join('/sys/fs/cgroup', h, name));
}

/** SIGKILLs the pids and waits (briefly) until they are gone. */
export function killAll(pids: number[]): void {
  for (const p of pids) if (p !== process.pid) signalPid(p, 'SIGKILL');
  const deadline = Date.now() + 3000;
  while (pids.some((p) => p !== process.pid && alive(p) && !zombie(p)) && Date.now() < deadline) {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

function zombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return true;
  }
}

/** Last lines of a log file, for error messages. */
export function logTail(file: string, lines = 20): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
