// The text fields of an Event, fitted to what the API server accepts: it counts bytes (Go's len), not
// characters, and refuses the whole Event when a field is too long, so an Event with a long non-ASCII
// note was lost, reason and all. A note is cut at a character boundary keeping its start (callers put
// what matters first and split long lists themselves: allocator/config-verdict.ts); the reason and
// action, short words of ours, are never cut below their limit.

/** events.k8s.io/v1 `note` (and core v1 `message`) limit, in bytes. */
export const NOTE_MAX_BYTES = 1024;
/** events.k8s.io/v1 `reason` and `action` limit, in bytes. */
export const REASON_MAX_BYTES = 128;

/** `text` cut to at most `max` UTF-8 bytes at a character boundary, with "..." when cut. */
export function fitBytes(text: string, max: number): string {
  const buf = Buffer.from(text, 'utf8');
  if (buf.length <= max) return text;
  let end = Math.max(0, max - 3);
  // Back off continuation bytes (10xxxxxx) so no character is split.
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
  return `${buf.subarray(0, end).toString('utf8')}...`;
}

export function eventNote(note: string): string {
  return fitBytes(note, NOTE_MAX_BYTES);
}

export function eventReason(reason: string): string {
  return fitBytes(reason, REASON_MAX_BYTES);
}
