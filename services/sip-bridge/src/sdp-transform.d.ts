/** The parts of `sdp-transform` (MIT) the bridge uses; the package ships no types. */
declare module 'sdp-transform' {
  export interface SdpRtp {
    payload: number;
    codec: string;
    rate?: number;
    encoding?: number;
  }
  export interface SdpMedia {
    type: string;
    port: number;
    protocol: string;
    /** A number when there is only one. */
    payloads?: string | number;
    connection?: { version: number; ip: string };
    rtp: SdpRtp[];
    fmtp: { payload: number; config: string }[];
    ptime?: number;
    direction?: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
  }
  export interface SdpSession {
    version?: number;
    origin?: { username: string; sessionId: string | number; sessionVersion: number; netType: string; ipVer: number; address: string };
    name?: string;
    connection?: { version: number; ip: string };
    timing?: { start: number; stop: number };
    direction?: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
    media: SdpMedia[];
  }
  export function parse(sdp: string): SdpSession;
  export function write(session: SdpSession): string;
}
