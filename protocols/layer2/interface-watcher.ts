// Keeps the announcer's interfaces current: rescans the selection on a short period (cheap sysfs
// reads; portable where netlink is not available to us) and applies changes.
import { systemClock, type Clock, type TimerHandle } from '../clock.js';
import { formatMac } from '../rawio/mac.js';
import type { LinkInfo } from './io.js';
import { selectInterfaces, type InterfaceSelection, type LinkSource, type SelectionResult } from './interfaces.js';

export interface InterfaceWatcherOptions {
  source: LinkSource;
  selection: InterfaceSelection;
  apply: (links: LinkInfo[]) => void;
  /** Called with each new selection result that differs from the last (for logs). */
  onChange?: (result: SelectionResult) => void;
  clock?: Clock;
  /** Rescan period in ms (default 1000). */
  periodMs?: number;
}

function key(r: SelectionResult): string {
  return JSON.stringify({
    links: r.links.map((l) => [l.name, formatMac(l.mac)]),
    skipped: r.skipped,
  });
}

export class InterfaceWatcher {
  private readonly opts: InterfaceWatcherOptions;
  private readonly clock: Clock;
  private timer: TimerHandle | null = null;
  private last = '';
  private stopped = false;

  constructor(opts: InterfaceWatcherOptions) {
    this.opts = opts;
    this.clock = opts.clock ?? systemClock;
  }

  /** Scans now, applies, and keeps scanning until stop(). */
  start(): SelectionResult {
    const r = this.scan();
    this.schedule();
    return r;
  }

  /** One scan; applies the selection only when it changed. */
  scan(): SelectionResult {
    const r = selectInterfaces(this.opts.source.links(), this.opts.selection);
    const k = key(r);
    if (k !== this.last) {
      this.last = k;
      this.opts.onChange?.(r);
      this.opts.apply(r.links);
    }
    return r;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.scan();
      this.schedule();
    }, this.opts.periodMs ?? 1000);
  }
}
