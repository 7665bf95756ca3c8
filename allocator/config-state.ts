// What a daemon's ConfigurationState object says (MetalLB v0.14+'s kind, written by
// kube/configuration-state.ts): the verdict the daemon already reached on its config source
// (config-verdict.ts), as a result and one condition. Pure and deterministic, so the same verdict gives
// the same state in every daemon and after a restart, and an unchanged state is never written again.
import type { Config } from '../config/model.js';
import { refusalEvents, unreadNote, type ConfigSourceKind, type ConfigVerdict } from './config-verdict.js';

export type ConfigResult = 'Valid' | 'Invalid' | 'Unknown';
export type ConfigStateReason = 'ConfigLoaded' | 'ConfigInvalid' | 'ConfigRefused' | 'ConfigMissing';

export interface ConfigState {
  /** Valid: the objects as they are now are the config in force. */
  result: ConfigResult;
  /** The condition `Loaded`'s reason (kube/configuration-state.ts writes it). */
  reason: ConfigStateReason;
  /** Why (the refusal's Event notes), or what is in force. */
  message: string;
  /** The config in force ('' when none). */
  configHash: string;
}

/** Condition messages are capped (the API server allows 32 KiB); the Events carry every detail. */
export const STATE_MESSAGE_LIMIT = 4000;

function capped(text: string): string {
  if (Buffer.byteLength(text, 'utf8') <= STATE_MESSAGE_LIMIT) return text;
  const buf = Buffer.from(text, 'utf8');
  let end = STATE_MESSAGE_LIMIT - 3;
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--;
  return `${buf.subarray(0, end).toString('utf8')}...`;
}

/** The state of a config in force: the same text for `apply` and for a later `unchanged`. */
function loaded(config: Config, hash: string): ConfigState {
  return { result: 'Valid', reason: 'ConfigLoaded', message: `config ${hash} in force: ${config.pools.length} address pools, ${config.peers.length} BGP peers`, configHash: hash };
}

/**
 * The state after `verdict`. `inForce` is the config in force before it (after it for `unchanged`);
 * `where` names the source for a missing one (e.g. `ConfigMap metallb-system/config`).
 */
export function configStateOf(verdict: ConfigVerdict, source: ConfigSourceKind, inForce: { config: Config; hash: string } | undefined, where: string): ConfigState {
  const hash = inForce?.hash ?? '';
  const kept = inForce ? `config ${inForce.hash} stays in force` : 'no config is in force';
  switch (verdict.kind) {
    case 'apply':
      return loaded(verdict.config, verdict.hash);
    case 'unchanged':
      return inForce ? loaded(inForce.config, inForce.hash) : { result: 'Unknown', reason: 'ConfigMissing', message: `${where}: no config is in force`, configHash: '' };
    case 'missing':
      return { result: 'Unknown', reason: 'ConfigMissing', message: capped(`${where} not found; ${kept}${verdict.unread ? `. ${unreadNote(verdict.unread)}` : ''}`), configHash: hash };
    case 'invalid':
    case 'breaking': {
      const notes = refusalEvents(verdict, source).map((e) => e.note);
      return {
        result: 'Invalid',
        reason: verdict.kind === 'invalid' ? 'ConfigInvalid' : 'ConfigRefused',
        message: capped(`${kept}. ${notes.join('\n')}`),
        configHash: hash,
      };
    }
  }
}
