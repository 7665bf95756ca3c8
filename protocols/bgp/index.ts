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
