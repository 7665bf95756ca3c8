// A Layer2Io for unit tests: records what the announcer sends and joins, and lets a test inject frames.
import type { Layer2Io, Layer2Port, LinkInfo } from '../../../protocols/layer2/io.js';

export class FakePort implements Layer2Port {
  readonly sent: Buffer[] = [];
  readonly groups = new Set<string>();
  readonly joins: string[] = [];
  closed = false;
  /** When set, send() returns this (false: queue full) or throws it. */
  sendResult: boolean | Error = true;
  /** Frames the kernel "dropped" (ring full), handed out once by stats() as the real socket does. */
  ringDrops = 0;

  constructor(
    readonly link: LinkInfo,
    readonly deliver: (frame: Buffer) => void,
  ) {}

  send(frame: Buffer): boolean {
    if (this.closed) throw new Error('send on closed port');
    if (this.sendResult instanceof Error) throw this.sendResult;
    // Copy: the announcer reuses its reply buffer, as the real send copies into the kernel.
    if (this.sendResult) this.sent.push(Buffer.from(frame));
    return this.sendResult;
  }

  joinGroup(group: Buffer): void {
    const k = group.toString('hex');
    if (this.groups.has(k)) throw new Error(`EADDRINUSE: already joined ${k}`);
    this.groups.add(k);
    this.joins.push(k);
  }

  leaveGroup(group: Buffer): void {
    const k = group.toString('hex');
    if (!this.groups.delete(k)) throw new Error(`EADDRNOTAVAIL: not joined ${k}`);
  }

  stats(): { drops: number } {
    const drops = this.ringDrops;
    this.ringDrops = 0;
    return { drops };
  }

  close(): void {
    this.closed = true;
    this.groups.clear();
  }
}

export class FakeIo implements Layer2Io {
  readonly ports = new Map<string, FakePort>();
  readonly opened: string[] = [];
  failOpen = new Set<string>();

  open(link: LinkInfo, onFrame: (frame: Buffer) => void): Layer2Port {
    if (this.failOpen.has(link.name)) throw new Error(`ENODEV: ${link.name}`);
    const p = new FakePort(link, onFrame);
    this.ports.set(link.name, p);
    this.opened.push(link.name);
    return p;
  }

  port(name: string): FakePort {
    const p = this.ports.get(name);
    if (!p) throw new Error(`no port ${name}`);
    return p;
  }
}
