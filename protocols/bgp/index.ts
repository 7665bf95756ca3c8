/**
 * Herald's BGP-4 library: pure code, no sockets and no Kubernetes. Import from here.
 *
 * Codec (one module per message; all follow encodingLength(x) / encode(x, buf, offset) -> bytes /
 * decode(buf, offset) -> value; decode throws only BgpError, whose code/subcode/data are the
 * NOTIFICATION to send):
 *   - message.ts: `BgpMessage` union (type: 'open'|'update'|'notification'|'keepalive'|'route-refresh'),
 *     `encodingLength`, `encode`, `toBuffer`, `decode`, and `MessageReader` (frames a TCP byte stream).
 *   - header.ts, open.ts (`OpenMessage`, `AS_TRANS`), capabilities.ts (`Capability`, `Afi`, `Safi`),
 *     update.ts (`UpdateMessage`, `endOfRib`, `isTreatAsWithdraw`), attributes.ts (`PathAttributes`,
 *     `CodecContext` = what the session negotiated: 4-octet AS, max message length), nlri.ts,
 *     notification.ts (`administrativeShutdown(reason)`, RFC 8203), keepalive.ts, route-refresh.ts.
 *   - errors.ts: `BgpError`, `ErrorCode`, subcode constants; `PrefixError` for bad prefix text.
 *
 * Hot path (update-encoder.ts): `compileAttributes(attrs, family, ctx)` encodes one advertisement
 * class once; `new UpdateEncoder(maxMessageLength).encodeAnnounce(compiled, prefixes, start, end,
 * buf, offset)` / `.encodeWithdraw(family, ...)` write as many whole, packed UPDATEs as fit into a
 * caller-owned Buffer and return the bytes written; `.next` is the first prefix not written and
 * `.messages` the count. `.encodeAnnounceV4(compiled, addresses: Uint32Array, lengths | undefined,
 * ...)` is the same for IPv4 held in typed arrays (fastest). No allocation per message
 * (test/unit/bgp/update-encoder-alloc.test.ts).
 *
 * Session (session.ts, fsm.ts, negotiation.ts, adj-rib-out.ts, ../clock.ts):
 *   const s = new BgpSession(config: BgpSessionConfig, { clock, connect, log?, random? });
 *   - config: localAs, peerAs, peerAddress, peerPort?, sourceAddress?, routerId? (dotted quad;
 *     default the IPv4 source/local address, else a hash of nodeName), nodeName?, holdTime? (90),
 *     keepaliveTime?, connectRetry? { minMs, maxMs, stableMs } (1 s..2 min, forgotten after 60 s
 *     Established; incoming connections refused while it runs), maxQueuedBytes? (32 MiB, then
 *     Cease 6/8), closeGraceMs? (1.5 s before a closed socket is destroyed), connectTimeoutMs? (30 s), gracefulRestart?
 *     { restartTime, restarting? }, coalesceMs? (5), passive?, extendedMessages?, nextHopLinkLocal?, extendedNextHop? (RFC 8950: IPv4 routes
 *     with an IPv6 next hop over an unnumbered/IPv6 session),
 *     and ebgpMultihop?/password? which only the connect function uses.
 *   - deps.resources?: a `BgpResources` (resources.ts) shared with the listener: open sockets,
 *     refusals, destroys, out-of-resources teardowns; deps.logLimiter?: `LogLimiter` (log-limiter.ts).
 *     s.queuedBytes: bytes the socket holds for the peer.
 *   - deps.clock: `systemClock` or `ManualClock` (protocols/clock.ts). deps.connect(): returns a
 *     `SocketLike` (a net.Socket fits) that will emit 'connect'; throwing counts as a failed
 *     connect. deps.log: a function receiving `SessionLogEvent`s or a pino-style logger.
 *     deps.ipv6NextHop?(localIpv4): the next hop for IPv6 routes over an IPv4 session (the
 *     interface's global IPv6 address: `ipv6NextHopFor` in ipv6-next-hop.ts, which reads the host's
 *     interfaces and so is not exported here); without one they are refused, logged once per change.
 *   - s.start(); s.announce(prefix, attrs?: RouteAttributes); s.withdraw(prefix);
 *     s.stop(reason?, { gracefulRestart? }): Promise<void> (flushes pending changes, sends Cease 6/2
 *     with the RFC 8203 reason unless gracefulRestart, closes); s.acceptIncoming(socket) for
 *     passive mode / collisions; s.state ('Idle'|'Connect'|'Active'|'OpenSent'|'OpenConfirm'|
 *     'Established'); s.negotiation (hold time, families, 4-octet AS, ...); s.routeCount.
 *   - events: 'state' (from, to, reason), 'established' (negotiated), 'notification'
 *     ({ direction: 'sent'|'received', code, subcode, data, reason? }), 'error' (Error; only emitted
 *     when someone listens, always logged).
 *   - RouteAttributes: nextHop? (default: the session's local address of the route's family),
 *     nextHopLinkLocal?, localPref? (iBGP only, default 100), med?, communities? (uint32[]),
 *     largeCommunities? ({ globalAdmin, localData1, localData2 }[]). eBGP prepends localAs.
 *
 * Prefixes: strings at the API surface ("203.0.113.10/32", "2001:db8::1/128"; a bare address is a
 * host route), parsed once by `parsePrefix` into `Prefix` (uint32 `v4` or 16-byte `v6`), which is
 * what the RIB holds and the encoder reads.
 */
export * from './errors.js';
export * from './prefix.js';
export * from './header.js';
export * from './capabilities.js';
export * from './open.js';
export * from './nlri.js';
export * from './attributes.js';
export * from './update.js';
export * from './notification.js';
export * from './keepalive.js';
export * from './route-refresh.js';
export * from './message.js';
export * from './update-encoder.js';
export * from './fsm.js';
export * from './negotiation.js';
export * from './adj-rib-out.js';
export * from './session.js';
export * from './resources.js';
export * from './log-limiter.js';
