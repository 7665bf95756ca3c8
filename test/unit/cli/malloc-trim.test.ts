// The daemons' malloc trim (cli/malloc-trim.ts): the addon is built by `make build` and gives freed
// malloc memory back; the timer keeps no process alive and stops when asked.
import { describe, expect, it } from 'vitest';
import { loadMallocTrim, startMallocTrim } from '../../../cli/malloc-trim.js';

describe('malloc trim', () => {
  it('has the herald_malloc_trim addon (built by `make build`) and trims', () => {
    const trim = loadMallocTrim();
    if (trim instanceof Error) throw trim;
    expect(typeof trim()).toBe('boolean');
  });

  it('trims on an unref-ed timer that stops when asked', () => {
    const stop = startMallocTrim(5);
    if (stop instanceof Error) throw stop;
    expect(typeof stop).toBe('function');
    stop();
  });
});
