// The typed BFD error. BFD has no error message on the wire: a packet that breaks a rule of
// RFC 5880 §6.8.6 is silently discarded, so the error names the rule for the drop counter and logs.

export type BfdErrorCode =
  | 'TooShort' // fewer bytes than a base packet
  | 'BadVersion' // §6.8.6: version must be 1
  | 'BadLength' // §6.8.6: Length < 24 (26 with A), or beyond the payload
  | 'ZeroDetectMult' // §6.8.6: Detect Mult must not be zero
  | 'Multipoint' // §6.8.6: M bit must be zero
  | 'ZeroMyDiscriminator' // §6.8.6: My Discriminator must not be zero
  | 'ZeroYourDiscriminator' // §6.8.6: Your Discriminator zero only in Down/AdminDown
  | 'BadAuth' // §6.8.6 / §4.2-4.4: authentication section inconsistent with the A bit or its type
  | 'EncodeRange'; // our own value cannot be encoded

/** The RFC rule each code stands for, quoted in messages so a log line says which check failed. */
export const RULES: Readonly<Record<BfdErrorCode, string>> = {
  TooShort: 'RFC 5880 §6.8.6 (length)',
  BadVersion: 'RFC 5880 §6.8.6 (version)',
  BadLength: 'RFC 5880 §6.8.6 (length)',
  ZeroDetectMult: 'RFC 5880 §6.8.6 (Detect Mult)',
  Multipoint: 'RFC 5880 §6.8.6 (Multipoint)',
  ZeroMyDiscriminator: 'RFC 5880 §6.8.6 (My Discriminator)',
  ZeroYourDiscriminator: 'RFC 5880 §6.8.6 (Your Discriminator)',
  BadAuth: 'RFC 5880 §6.8.6 / §4.2 (authentication)',
  EncodeRange: 'RFC 5880 §4.1 (field range)',
};

export class BfdError extends Error {
  readonly code: BfdErrorCode;
  readonly rule: string;
  /** Byte offset in the decoded buffer where the problem is, when decoding. */
  readonly offset: number | undefined;
  readonly field: string | undefined;

  constructor(code: BfdErrorCode, message: string, where: { offset?: number; field?: string } = {}) {
    super(`${RULES[code]}${where.offset === undefined ? '' : ` at byte ${where.offset}`}: ${message}`);
    this.name = 'BfdError';
    this.code = code;
    this.rule = RULES[code];
    this.offset = where.offset;
    this.field = where.field;
  }
}
