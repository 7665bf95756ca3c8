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
