// Collects every problem found in a config document (the parser reports all of them, not only the first),
// and builds the paths that name where each one is: `address-pools[1].addresses[0]`.
import type { ConfigIssue } from './model.js';

export class Issues {
  readonly list: ConfigIssue[] = [];

  add(path: string, message: string): void {
    this.list.push({ path, message });
  }

  get count(): number {
    return this.list.length;
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
