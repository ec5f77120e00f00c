/**
 * The messages of membership (issue 14) between the page and its call worker, on a line whose link
 * has `host=`: who this page is (chosen before joining), what the worker reports of the encrypted
 * roster and the epochs, and the host's actions. Media messages are media-messages.ts'.
 */
import type { RekeyReason } from '@studioline/protocol';
import type { MembershipStats } from '../../src/membership.js';
import type { Role } from '../../src/roster.js';

/** Page -> worker, with `start`: who this page is on the line. */
export interface MemberInit {
  /** The display name others see (at most 64 bytes of UTF-8). */
  name: string;
  /** An avatar colour, 0xRRGGBB. */
  colour?: number;
  /** The host's signing key pair, when this page made the line (the private half is a non-extractable CryptoKey). */
  signing?: { privateKey: CryptoKey; publicKey: Uint8Array };
}

/** One member as the page shows it. */
export interface MemberView {
  /** Its identity (the signing public key, base64url). */
  id: string;
  name: string;
  colour?: number;
  role: Role;
  /** Holds the current epoch's key: it hears and is heard. */
  admitted: boolean;
  /** This page itself. */
  you: boolean;
  /** Its sender ids on the lines this page is on (one, or two while the line moves): its audio's, for levels and quality. */
  senders: string[];
}

/** Page -> worker: the host's (or a promoted member's) actions, on a member's id. */
export type MemberCommand = { action: 'exclude' | 'promote'; id: string };

/** Worker -> page. */
export type MemberReport =
  | { kind: 'roster'; members: MemberView[]; canAct: boolean }
  /** The line moved (an exclusion or a leave): `text` is the new link to share (it holds the key: never logged). */
  | { kind: 'moved'; text: string; reason: RekeyReason; gone: string }
  /** The host excluded this page: its call is over. */
  | { kind: 'excluded'; reason: RekeyReason }
  /** The epoch and the membership messages accepted and refused (forged, replayed, cut short: each shown). */
  | { kind: 'stats'; stats: MembershipStats }
  /** How a command went: `error` when it could not be done. */
  | { kind: 'action'; action: MemberCommand['action']; id: string; error?: string };
