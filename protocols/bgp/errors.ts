// The typed BGP error: every decode or protocol failure carries the NOTIFICATION it calls for.

/** NOTIFICATION error codes (RFC 4271 §4.5, RFC 7313). */
export const ErrorCode = {
  MessageHeader: 1,
  OpenMessage: 2,
  UpdateMessage: 3,
  HoldTimerExpired: 4,
  FsmError: 5,
  Cease: 6,
  RouteRefresh: 7,
} as const;

export const HeaderSubcode = {
  ConnectionNotSynchronized: 1,
  BadMessageLength: 2,
  BadMessageType: 3,
} as const;

export const OpenSubcode = {
  Unspecific: 0,
  UnsupportedVersionNumber: 1,
  BadPeerAs: 2,
  BadBgpIdentifier: 3,
  UnsupportedOptionalParameter: 4,
  UnacceptableHoldTime: 6,
  UnsupportedCapability: 7,
} as const;

export const UpdateSubcode = {
  MalformedAttributeList: 1,
  UnrecognizedWellKnownAttribute: 2,
  MissingWellKnownAttribute: 3,
  AttributeFlagsError: 4,
  AttributeLengthError: 5,
  InvalidOriginAttribute: 6,
  InvalidNextHopAttribute: 8,
  OptionalAttributeError: 9,
  InvalidNetworkField: 10,
  MalformedAsPath: 11,
} as const;

/** RFC 6608 subcodes for FSM errors. */
export const FsmSubcode = {
  Unspecified: 0,
  UnexpectedInOpenSent: 1,
  UnexpectedInOpenConfirm: 2,
  UnexpectedInEstablished: 3,
} as const;

/** RFC 4486 / RFC 8203 Cease subcodes. */
export const CeaseSubcode = {
  MaximumPrefixes: 1,
  AdministrativeShutdown: 2,
  PeerDeconfigured: 3,
  AdministrativeReset: 4,
  ConnectionRejected: 5,
  OtherConfigurationChange: 6,
  ConnectionCollisionResolution: 7,
  OutOfResources: 8,
} as const;

const codeNames: Record<number, string> = {
  1: 'Message Header Error',
  2: 'OPEN Message Error',
  3: 'UPDATE Message Error',
  4: 'Hold Timer Expired',
  5: 'Finite State Machine Error',
  6: 'Cease',
  7: 'ROUTE-REFRESH Message Error',
};

/** Human name of a NOTIFICATION code, for logs. */
export function errorCodeName(code: number): string {
  return codeNames[code] ?? `code ${code}`;
}

/**
 * A BGP protocol error: code/subcode/data are exactly what goes into the NOTIFICATION to send.
 * `offset` is the byte offset (in the decoded buffer) where the problem was found, when known.
 */
export class BgpError extends Error {
  readonly code: number;
  readonly subcode: number;
  readonly data: Buffer;
  readonly offset: number | undefined;

  constructor(code: number, subcode: number, message: string, data: Buffer = Buffer.alloc(0), offset?: number) {
    super(`${errorCodeName(code)} (${code}/${subcode})${offset === undefined ? '' : ` at byte ${offset}`}: ${message}`);
    this.name = 'BgpError';
    this.code = code;
    this.subcode = subcode;
    this.data = data;
    this.offset = offset;
  }
}

/** An address or prefix string that does not parse: names the input. */
export class PrefixError extends Error {
  readonly input: string;
  constructor(input: string, reason: string) {
    super(`invalid prefix or address ${JSON.stringify(input)}: ${reason}`);
    this.name = 'PrefixError';
    this.input = input;
  }
}
