// Runs protocols/ndp/router-link.ts on one interface inside a lab namespace (started with tsx by
// test/lab/router-link.test.ts):
//   --iface I [--interval-ms N] [--advertise true|false]
// Prints one JSON line per log line of the link ({msg, ...fields, time}), and its counters on SIGTERM.
import { startRouterLink } from '../../protocols/ndp/router-link.js';

function arg(name: string, dflt?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : dflt;
  if (v === undefined) throw new Error(`missing --${name}`);
  return v;
}

const print = (obj: object, msg: string) => process.stdout.write(`${JSON.stringify({ msg, ...obj, time: Date.now() })}\n`);
const link = startRouterLink({
  ifname: arg('iface'),
  sendAdvertisements: arg('advertise', 'true') === 'true',
  intervalMs: Number(arg('interval-ms', '10000')),
  onRouter: () => {},
  log: { info: print, warn: print, debug: () => {} },
});
process.on('SIGTERM', () => {
  print({ counters: link.counters }, 'counters');
  link.close();
  process.exit(0);
});
