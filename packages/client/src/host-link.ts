/**
 * A new line with a host (issue 14): a new leaf, and a new Ed25519 key pair whose public half goes in
 * the link (`host=`). The peer that makes it is the host: its session signs with that key, so only
 * it (and the members it promotes) can admit, exclude and rekey. The private half stays in this
 * session's memory (non-extractable); a host that restarts is a member of the line like any other.
 */
import { CallLink, SigningKeyPair, formatCallLink, generateLeaf, generateSigningKeyPair, parseCallLink } from '@studioline/protocol';

export interface HostedLink {
  /** The link to share (it holds the API key and the leaf: never log it). */
  text: string;
  link: CallLink;
  /** The host's signing key pair: pass it to createIdentity for the host's session. */
  signing: SigningKeyPair;
}

export async function createHostedLink(origin: string, apiKey: string, options: { mobile?: boolean; peers?: number } = {}): Promise<HostedLink> {
  const signing = await generateSigningKeyPair();
  const text = formatCallLink(origin, apiKey, generateLeaf(), options.mobile ?? false, options.peers, signing.publicKey);
  return { text, link: parseCallLink(text), signing };
}
