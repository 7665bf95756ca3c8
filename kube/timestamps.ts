// API timestamps as the API server writes them: metav1.MicroTime (RFC 3339 with six fractional
// digits, Leases and events.k8s.io Events) and metav1.Time (RFC 3339 in whole seconds, core Events).

/** e.g. 2026-11-22T12:00:00.123000Z (JavaScript time has milliseconds: the last three digits are 0). */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '000Z');
}

/** e.g. 2026-11-22T12:00:00Z. */
export function wholeSecondsTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');
}
