// Whether a real-time window of the scale simulator measured the protocol or the machine. Hundreds of
// members share each worker's event loop, so a lag of the loop is a stall of all of them at once:
// over the liveness stall threshold (swim.ts stallMs, the suspicion time) every one of them pings
// every member to learn its verdict (N² / workers datagrams at once), which stalls the loop again;
// near the probe time-out (80 ms) acks arrive late and members lose their quorum. A real cluster
// has neither: one speaker per node. So a window with a stall, or with the loop's lag p99 at or over
// the probe time-out, is starved: its liveness figures say how loaded the host was.
export interface WindowLoad {
  /** Stalls the members detected in the window. */
  stalls: number;
  /** The workers' event-loop lag p99 over the window (the worst worker), ms. */
  lagP99Ms: number;
}

export function starved(w: WindowLoad, probeTimeoutMs: number): boolean {
  return w.stalls > 0 || !(w.lagP99Ms < probeTimeoutMs);
}
