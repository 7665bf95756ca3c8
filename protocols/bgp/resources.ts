// What peers (or anyone reaching the BGP port) can make us hold, counted in one place shared by the
// listener and every session: open sockets, connections refused and destroyed, sessions torn down
// because a peer would not read. The speaker exports these as metrics (speaker/metrics.ts).

/** Why a connection was closed at once, without a session. */
export type RefuseReason = 'not-a-peer' | 'ambiguous-local-address' | 'listener-closed' | 'back-off' | 'stopped';

interface Closable {
  on(event: 'close', listener: () => void): unknown;
}

export class BgpResources {
  /** BGP TCP sockets (incoming and outgoing) not yet closed: each holds a descriptor. */
  socketsOpen = 0;
  /** Connections we destroyed because the peer kept its end open past the grace period. */
  connectionsDestroyed = 0;
  readonly connectionsRefused = new Map<RefuseReason, number>();
  /** Per peer: sessions torn down with Cease/Out of Resources (queued bytes over the cap). */
  readonly sessionsOutOfResources = new Map<string, number>();
  private readonly tracked = new WeakSet<object>();

  /** Counts a socket as open until its 'close' event (each socket once). */
  track(socket: Closable): void {
    if (this.tracked.has(socket)) return;
    this.tracked.add(socket);
    this.socketsOpen++;
    socket.on('close', () => this.socketsOpen--);
  }

  refused(reason: RefuseReason): void {
    this.connectionsRefused.set(reason, (this.connectionsRefused.get(reason) ?? 0) + 1);
  }

  destroyed(): void {
    this.connectionsDestroyed++;
  }

  outOfResources(peer: string): void {
    this.sessionsOutOfResources.set(peer, (this.sessionsOutOfResources.get(peer) ?? 0) + 1);
  }
}
