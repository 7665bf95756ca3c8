// Node ids of liveness wire version 3 (message.ts): a node is named on the wire by a 32-bit id, the
// first 4 bytes of HMAC-SHA256(K, name) with K = HMAC-SHA256(shared secret, a fixed label), instead
// of its name, so that the traffic does not grow with the length of the node names (real clusters
// use FQDNs). Keyed, so that nobody without the secret can choose names that collide (and node
// names are chosen by the cluster's admins anyway). The table holds the members the Leases name
// (and this node): the receiver maps an id back through it. Two members whose ids collide (about
// N² / 2^33: 1 in 8,600 clusters of 1,000 nodes) are both named by their names, in both
// directions, for as long as both are members; each side decides from its own member list, so
// while they disagree (a Lease seen by one side first) a datagram from one of those two may name an
// id the receiver finds ambiguous, and is dropped and counted (UnknownId) until the sender sees the
// Lease too. An id is computed once per name, when it joins.
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { NodeIdTable } from './message.js';

const LABEL = 'herald.io/liveness-wire node id v3';

export class NodeIds implements NodeIdTable {
  private readonly key: KeyObject;
  private readonly ids = new Map<string, number>();
  /** Per id, the member names that hash to it (more than one: a collision). */
  private readonly names = new Map<number, string[]>();

  constructor(secret: Buffer) {
    this.key = createSecretKey(createHmac('sha256', secret).update(LABEL).digest());
  }

  /** The id of `name`, whether it is a member or not. */
  hash(name: string): number {
    return createHmac('sha256', this.key).update(name, 'utf8').digest().readUInt32BE(0);
  }

  add(name: string): void {
    if (this.ids.has(name)) return;
    const id = this.hash(name);
    this.ids.set(name, id);
    const list = this.names.get(id);
    if (list) list.push(name);
    else this.names.set(id, [name]);
  }

  remove(name: string): void {
    const id = this.ids.get(name);
    if (id === undefined) return;
    this.ids.delete(name);
    const list = (this.names.get(id) ?? []).filter((n) => n !== name);
    if (list.length === 0) this.names.delete(id);
    else this.names.set(id, list);
  }

  /** The id to send for `name`: undefined if it is no member or its id collides (then: its name). */
  idOf(name: string): number | undefined {
    const id = this.ids.get(name);
    return id !== undefined && this.names.get(id)?.length === 1 ? id : undefined;
  }

  /** The one member `id` names, or undefined (no member, or a collision). */
  nameOf(id: number): string | undefined {
    const list = this.names.get(id);
    return list?.length === 1 ? list[0] : undefined;
  }

  /** Members named by their names because their ids collide. */
  get collisions(): number {
    let n = 0;
    for (const list of this.names.values()) if (list.length > 1) n += list.length;
    return n;
  }
}
