// Child processes' output, line by line: the daemons log JSON lines, tcpdump and `ip monitor` print
// lines, and a chunk from a pipe may end anywhere in one.
import type { Readable } from 'node:stream';

/** Calls `each` with every complete line of `stream` (UTF-8, without its newline), in order. */
export function onLines(stream: Readable | null | undefined, each: (line: string) => void): void {
  if (!stream) return;
  let buf = '';
  stream.setEncoding('utf8');
  stream.on('data', (d: string) => {
    buf += d;
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      each(line);
    }
  });
}
