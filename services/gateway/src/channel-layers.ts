/**
 * What layer each line of a socket is sent (channels.ts in protocol, CHANNEL_LAYER_POLICY): the
 * budgets are per socket, so a socket on several channels gets the layer it asked for on its lead
 * channel (the lowest channel number it is on) and at most the compact layer on the others; and a
 * socket whose link is in trouble is stepped down on every line alike (layer-step.ts). The ceiling
 * of a one-line socket is its step's alone, as before channels.
 */
import { LAYER_COMPACT } from '@studioline/protocol';
import { Session } from './session.js';

/** The channel socket's lead channel: the lowest channel number it is on. */
export function leadChannel(session: Session): number {
  let lead = Infinity;
  for (const [channel, other] of session.socket.channels ?? []) if (other.state !== 'closed' && channel < lead) lead = channel;
  return lead;
}

/** The best layer `session`'s line may send it now: the worst of what it asked, its socket's step, and the channel policy. */
export function sessionCeiling(session: Session): number {
  let ceiling = Math.max(session.receiveLayer, session.socket.step?.ceiling ?? 0);
  if (session.channel >= 0 && session.channel !== leadChannel(session)) ceiling = Math.max(ceiling, LAYER_COMPACT);
  return ceiling;
}
