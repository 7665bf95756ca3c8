// A RouterLinkIo for unit tests: the interface's facts are set by the test, sent frames are recorded
// and received frames injected.
import type { RouterLinkFacts, RouterLinkIo, RouterLinkPort } from '../../../protocols/ndp/router-link-io.js';

export class FakeRouterPort implements RouterLinkPort {
  readonly sent: Buffer[] = [];
  readonly groups: string[] = [];
  closed = false;
  sendResult: boolean | Error = true;

  constructor(
    readonly deliver: (frame: Buffer) => void,
    readonly fail: (err: Error) => void,
  ) {}

  send(frame: Buffer): boolean {
    if (this.closed) throw new Error('send on closed port');
    if (this.sendResult instanceof Error) throw this.sendResult;
    if (this.sendResult) this.sent.push(Buffer.from(frame));
    return this.sendResult;
  }

  joinGroup(group: Buffer): void {
    this.groups.push(group.toString('hex'));
  }

  close(): void {
    this.closed = true;
  }
}

export class FakeRouterIo implements RouterLinkIo {
  current: RouterLinkFacts | undefined;
  readonly ports: FakeRouterPort[] = [];
  failOpen: Error | undefined;

  constructor(facts: RouterLinkFacts | undefined) {
    this.current = facts;
  }

  facts(): RouterLinkFacts | undefined {
    return this.current;
  }

  open(_ifname: string, onFrame: (frame: Buffer) => void, onError: (err: Error) => void): RouterLinkPort {
    if (this.failOpen) throw this.failOpen;
    const p = new FakeRouterPort(onFrame, onError);
    this.ports.push(p);
    return p;
  }

  /** The port opened last. */
  get port(): FakeRouterPort {
    const p = this.ports[this.ports.length - 1];
    if (!p) throw new Error('no port opened');
    return p;
  }
}
