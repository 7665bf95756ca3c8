// Collects every problem found in a config document (the parser reports all of them, not only the first),
// and builds the paths that name where each one is: `address-pools[1].addresses[0]`.
import type { ConfigIssue } from './model.js';

/** Enough to fix any real config; bounds the error a hostile one (e.g. a million overlaps) can produce. */
export const MAX_ISSUES = 1000;

export class Issues {
  private readonly kept: ConfigIssue[] = [];
  private total = 0;

  add(path: string, message: string): void {
    this.total++;
    if (this.kept.length < MAX_ISSUES) this.kept.push({ path, message });
  }

  /** Every issue found so far, including any past the cap. */
  get count(): number {
    return this.total;
  }

  /** The issues to report: all of them, or the first MAX_ISSUES and a last one counting the rest. */
  get list(): ConfigIssue[] {
    if (this.total <= this.kept.length) return [...this.kept];
    return [...this.kept, { path: '', message: `... and ${this.total - this.kept.length} more issues` }];
  }
}

const PLAIN_KEY = /^[A-Za-z0-9_-]+$/;

/** `peers` + `my-asn` -> `peers.my-asn`; keys that are not plain words are quoted: `match-labels["kubernetes.io/os"]`. */
export function keyPath(path: string, key: string): string {
  if (!PLAIN_KEY.test(key)) return `${path}[${JSON.stringify(key)}]`;
  return path === '' ? key : `${path}.${key}`;
}

export function indexPath(path: string, index: number): string {
  return `${path}[${index}]`;
}

/** A value quoted for a message, cut short so a hostile document cannot make messages huge. */
export function quote(text: string, max = 80): string {
  const cut = text.length > max ? `${text.slice(0, max)}...` : text;
  return JSON.stringify(cut);
}
