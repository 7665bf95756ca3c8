// Partitions on the full lab, and reading who claimed a layer2 VIP from the client's capture.
// A node is cut off by packet filter rules in its own namespace (iptables, loaded atomically by
// iptables-restore), so that it stays on the client's link: the client still sees every frame it
// sends, which is what tells whether it stopped answering before another node started.
import { readFileSync } from 'node:fs';
import type { FullLab, NodeName } from './full-lab.js';
import { captureTime } from './l2-lab.js';

/**
 * Drops, in `node`'s namespace, the liveness datagrams (UDP `livenessPort` both ways) and, unless
 * `keepApi`, every packet to and from the API server's host: the node reaches neither its peers nor
 * the API server, but still the client and the router.
 */
export async function isolate(lab: FullLab, node: NodeName, livenessPort: number, opts: { keepApi?: boolean } = {}): Promise<void> {
  const api = lab.host('control').ipv4;
  const rules = [`-A INPUT -p udp --dport ${livenessPort} -j DROP`, `-A OUTPUT -p udp --dport ${livenessPort} -j DROP`];
  if (!opts.keepApi) rules.push(`-A INPUT -s ${api} -j DROP`, `-A OUTPUT -d ${api} -j DROP`);
  await lab.mustExec(node, 'iptables-restore', [], `*filter\n${rules.join('\n')}\nCOMMIT\n`);
}

/** Removes every rule isolate() added. */
export async function heal(lab: FullLab, node: NodeName): Promise<void> {
  await lab.mustExec(node, 'iptables', ['-F']);
}

/** A captured ARP frame in which the host with `mac` claims `vip`: an answer, or a gratuitous ARP. */
export function claimsVip(vip: string, mac: string): (line: string) => boolean {
  const v = vip.replace(/\./g, '\\.');
  const re = new RegExp(`^\\S+ ${mac.toLowerCase()} > .*(reply ${v} is-at|who-has ${v} tell ${v},)`);
  return (line) => re.test(line.toLowerCase());
}

/** Capture times (epoch ms, the kernel's timestamp) of the lines `pred` accepts. */
export function frameTimes(lines: ReadonlyArray<{ text: string }>, pred: (line: string) => boolean): number[] {
  return lines.filter((l) => pred(l.text)).map((l) => captureTime(l.text));
}

/**
 * Epoch ms of each line of a daemon's JSON log with `"event":"<event>"` (the time the daemon logged
 * it), and with `"reason":"<reason>"` when given.
 */
export function logEventTimes(logFile: string, event: string, reason?: string): number[] {
  let text = '';
  try {
    text = readFileSync(logFile, 'utf8');
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const line of text.split('\n')) {
    if (!line.includes(`"event":"${event}"`)) continue;
    if (reason !== undefined && !line.includes(`"reason":${JSON.stringify(reason)}`)) continue;
    const t = /"time":"([^"]+)"/.exec(line)?.[1];
    if (t !== undefined) out.push(Date.parse(t));
  }
  return out;
}
