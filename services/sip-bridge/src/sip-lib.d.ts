/** The parts of `sip` (kirm/sip.js, MIT) the bridge uses; the package ships no types. */
declare module 'sip' {
  export interface SipUri {
    schema?: string;
    user?: string;
    password?: string;
    host: string;
    port?: number;
    params: Record<string, string | null | undefined>;
    headers?: Record<string, string>;
  }
  export interface NameAddr {
    name?: string;
    uri: string;
    params: Record<string, string | null | undefined>;
  }
  export interface Via {
    version?: string;
    protocol?: string;
    host: string;
    port?: number;
    params: Record<string, string | null | undefined>;
  }
  /** An authorization header as parsed: values keep their double quotes. */
  export type AuthHeader = Record<string, string | undefined> & { scheme: string };
  export interface SipHeaders {
    via: Via[];
    to: NameAddr;
    from: NameAddr;
    'call-id': string;
    cseq: { seq: number; method: string };
    contact?: NameAddr[] | '*';
    authorization?: AuthHeader[];
    'content-type'?: string;
    'content-length'?: number;
    expires?: string | number;
    [name: string]: unknown;
  }
  export interface SipMessage {
    method?: string;
    uri?: string;
    status?: number;
    reason?: string;
    version?: string;
    headers: SipHeaders;
    content?: string;
  }
  export interface Remote {
    protocol: string;
    address: string;
    port: number;
    local?: { address: string; port: number };
  }
  export interface StackOptions {
    address?: string;
    port?: number;
    publicAddress?: string;
    hostname?: string;
    udp?: boolean;
    tcp?: boolean;
    maxBytesHeaders?: number;
    maxContentLength?: number;
    logger?: { error?(err: unknown): void; send?(m: SipMessage, target: Remote): void; recv?(m: SipMessage, remote: Remote): void };
  }
  export interface Stack {
    send(message: SipMessage, onResponse?: (response: SipMessage) => void): void;
    /** A URI naming a transport flow (the stack's host, the flow as a signed token): requests routed to it leave over that flow. */
    encodeFlowUri(flow: Remote): SipUri;
    destroy(): void;
    hostname(): string;
  }
  export function create(options: StackOptions, onRequest: (request: SipMessage, remote: Remote) => void): Stack;
  export function makeResponse(request: SipMessage, status: number, reason?: string, extension?: Partial<SipMessage>): SipMessage;
  export function parseUri(uri: string | SipUri): SipUri;
  export function stringifyUri(uri: SipUri): string;
  export function parse(text: string): SipMessage | undefined;
  export function stringify(message: SipMessage): string;
  export function generateBranch(): string;
}

declare module 'sip/digest' {
  export function calculateUserRealmPasswordHash(user: string, realm: string, password: string): string;
  export function calculateDigest(ctx: { ha1: string; method: string; nonce: string; nc?: string; cnonce?: string; qop?: string; uri: string; entity?: string }): string;
}
