// What the allocator holds: one Slot per held address, one ServiceRecord per Service.
// Kept lean on purpose (no per-record arrays): memory per Service is the budget that matters
// when 200,000 Services hold addresses.
import type { Family } from '../config/model.js';
import { familyOfAddr, type Addr } from './address.js';
import type { Sharing } from './sharing.js';

/** One held address and the Services holding it (more than one only when shared). Its family and
 * pool are derived (familyOf, PoolSet.lookup) rather than stored: 16 bytes less per address. */
export interface Slot {
  /** Canonical text (formatIp): a dotted quad exactly when IPv4. */
  text: string;
  /** A number for IPv4, a bigint for IPv6 (address.ts). */
  num: Addr;
  /** A single holder, or the holders of a shared address. */
  users: ServiceRecord | ServiceRecord[];
}

export function familyOf(slot: Slot): Family {
  return familyOfAddr(slot.num);
}

export interface ServiceRecord {
  key: string;
  /** A Service holds one address per family: `first` in its family order, `second` when dual-stack. */
  first: Slot;
  second: Slot | undefined;
  /** The rarely set parts of a request (absent for most Services, to save memory). */
  extra: RecordExtra | undefined;
}

export interface RecordExtra {
  /** The pool the Service names, if any. */
  pool: string | undefined;
  sharing: Sharing | undefined;
  /** A Service we do not handle (another loadBalancerClass): its addresses are only kept from being handed out. */
  foreign?: true;
  /** With `foreign`: one of our Services whose status still shows the address while it is being cleared. */
  clearing?: true;
}

export function makeExtra(pool: string | undefined, sharing: Sharing | undefined): RecordExtra | undefined {
  return pool === undefined && sharing === undefined ? undefined : { pool, sharing };
}

export function slotsOf(rec: ServiceRecord): Slot[] {
  return rec.second ? [rec.first, rec.second] : [rec.first];
}

export function usersOf(slot: Slot): readonly ServiceRecord[] {
  return Array.isArray(slot.users) ? slot.users : [slot.users];
}

export function addUser(slot: Slot, rec: ServiceRecord): void {
  if (Array.isArray(slot.users)) slot.users.push(rec);
  else slot.users = [slot.users, rec];
}

/** Removes `rec` from the holders; returns how many remain. */
export function removeUser(slot: Slot, rec: ServiceRecord): number {
  if (!Array.isArray(slot.users)) return slot.users === rec ? 0 : 1;
  const i = slot.users.indexOf(rec);
  if (i >= 0) slot.users.splice(i, 1);
  if (slot.users.length === 1) slot.users = slot.users[0];
  return Array.isArray(slot.users) ? slot.users.length : 1;
}
