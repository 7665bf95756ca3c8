// Runs in a lab namespace with tsx (started by test/lab/router-link.test.ts):
//   link --iface I [--interval-ms N] [--advertise true|false]
//        protocols/ndp/router-link.ts on I; one JSON line per log line ({msg, ...fields, time}),
//        its counters on SIGUSR2 and SIGTERM.
//   hostile --iface I --src-mac M --src-ll A
//        every crafted RA class of hostile-router-frames.ts, then one valid RA, from M / A; prints {sent}.
import { parseIpv6 } from '../../protocols/ndp/ipv6-address.js';
import { routerAdvertisementFrame } from '../../protocols/ndp/router-frames.js';
import { startRouterLink } from '../../protocols/ndp/router-link.js';
import { parseMac } from '../../protocols/rawio/mac.js';
import { PacketSocket } from '../../protocols/rawio/packet-socket.js';
import { hostileRouterAdvertisements } from './hostile-router-frames.js';

function arg(name: string, dflt?: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i >= 0 ? process.argv[i + 1] : dflt;
  if (v === undefined) throw new Error(`missing --${name}`);
  return v;
}

const print = (obj: object, msg: string) => process.stdout.write(`${JSON.stringify({ msg, ...obj, time: Date.now() })}\n`);

if (process.argv[2] === 'hostile') {
  const mac = parseMac(arg('src-mac'));
  const src = parseIpv6(arg('src-ll'));
  const sock = PacketSocket.open({ iface: arg('iface'), select: { icmp6Types: [134] }, onFrame: () => {} });
  const frames = [...hostileRouterAdvertisements(mac, src).map((c) => c.frame), routerAdvertisementFrame(mac, src, { routerLifetime: 30 })];
  let sent = 0;
  for (const f of frames) if (sock.send(f)) sent++;
  sock.close();
  print({ sent }, 'sent');
} else {
  const link = startRouterLink({
    ifname: arg('iface'),
    sendAdvertisements: arg('advertise', 'true') === 'true',
    intervalMs: Number(arg('interval-ms', '10000')),
    onRouter: () => {},
    log: { info: print, warn: print, debug: () => {} },
  });
  process.on('SIGUSR2', () => print({ counters: link.counters }, 'counters'));
  process.on('SIGTERM', () => {
    print({ counters: link.counters }, 'counters');
    link.close();
    process.exit(0);
  });
}
