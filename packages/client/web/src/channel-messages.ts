/**
 * The page's channels (issue 14): the messages between the page's channel list (channel-list.ts)
 * and the call worker's channels (worker-channels.ts), in one place. The page's own line is
 * channel 1 (its talk controls); these are the others, on the same websocket.
 */
import type { CallLink, LayerName } from '@studioline/protocol';
import type { CallState } from '../../src/call-core.js';
import type { TalkMode } from '../../src/talk-gate.js';

/** Page -> call worker. */
export type ChannelCommand =
  | { type: 'channel-add'; name: string; link: CallLink; mode: TalkMode; volume: number; muted: boolean }
  | { type: 'channel-remove'; name: string }
  | { type: 'channel-mode'; name: string; mode: TalkMode }
  /** A channel's push-to-talk key went down (`at`: Date.now() when it did) or up. */
  | { type: 'channel-talk'; name: string; down: boolean; at: number }
  | { type: 'channel-volume'; name: string; volume: number; muted: boolean };

export function isChannelCommand(msg: { type: string }): msg is ChannelCommand {
  return msg.type.startsWith('channel-');
}

export interface ChannelStatus {
  name: string;
  state: CallState;
  detail: string;
  peers: string[];
  transmitting: boolean;
  /** The last push-to-talk start on it: key down to its first frame handed on, ms. */
  pttStartMs?: number;
  /** The layer it is sent (the page's own line is the lead, sent the full layer; these get the compact one). */
  layer?: LayerName;
  /** Why it ended, when it was refused. */
  error?: string;
}

/** Call worker -> page: every channel's status, on each change and a few times a second. */
export interface ChannelReport {
  type: 'channels';
  channels: ChannelStatus[];
}
