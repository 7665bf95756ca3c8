// The demos' narration (make demo, make demo-lab): step headers with the elapsed time, and a command
// with its output indented under it.
export function narrator(t0 = Date.now()) {
  const secs = (from: number): string => ((Date.now() - from) / 1000).toFixed(1);
  const say = (line: string): void => void process.stdout.write(`${line}\n`);
  return {
    t0,
    secs,
    say,
    step: (title: string): void => say(`\n== [${secs(t0)} s] ${title}`),
    show: (cmd: string, out: string): void => {
      say(`$ ${cmd}`);
      say(out.trimEnd().replace(/^/gm, '  '));
    },
    sleep: (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms)),
  };
}

/**
 * The end of a demo: the lab stays up when it worked and KEEP asked for it, otherwise it goes
 * (`tearDown` returns the line saying what went); then the verdict with the total time.
 */
export async function endDemo(n: ReturnType<typeof narrator>, ok: boolean, keep: boolean, tearDown: () => string | Promise<string>): Promise<void> {
  if (!keep || !ok) {
    n.step('tearing down');
    n.say(await tearDown());
  }
  n.say(`\n== demo ${ok ? 'done' : 'FAILED'} in ${n.secs(n.t0)} s`);
}

/** `demo.ts [up|down]`: runs one of them; an error is one line on stderr and exit code 1. */
export async function demoCommand(up: () => Promise<void>, down: () => void): Promise<void> {
  const cmd = process.argv[2] ?? 'up';
  try {
    if (cmd === 'down') down();
    else if (cmd === 'up') await up();
    else throw new Error(`usage: demo.ts [up|down] (got ${cmd})`);
  } catch (err) {
    process.stderr.write(`demo: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
