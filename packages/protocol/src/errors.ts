/**
 * Every refusal a client can meet, with the websocket close code it is sent with, the HTTP status it
 * is answered with when no socket exists yet (a refused upgrade, the keys admin API), and the words a
 * user reads. This is the one table of both: the gateway closes with `closeCode` and the reason
 * `code`; clients map a close code back with {@link errorForCloseCode}. Codes 4000-4999 are the
 * application range of RFC 6455; closeCode 0 means the error never closes a socket.
 */
export const ERRORS = {
  bad_request: { closeCode: 4400, httpStatus: 400, message: 'The request was malformed (expected a join message first).' },
  unauthorized: { closeCode: 4401, httpStatus: 401, message: 'The API key is wrong, expired or unknown.' },
  key_revoked: { closeCode: 4403, httpStatus: 403, message: 'The API key was revoked.' },
  key_expired: { closeCode: 4403, httpStatus: 403, message: 'The API key expired.' },
  bad_origin: { closeCode: 4403, httpStatus: 403, message: 'This page origin is not allowed to connect.' },
  not_found: { closeCode: 0, httpStatus: 404, message: 'There is nothing at this address.' },
  join_timeout: { closeCode: 4408, httpStatus: 408, message: 'No join message arrived in time.' },
  line_full: { closeCode: 4409, httpStatus: 409, message: 'The line is full: it already has the most peers it allows.' },
  too_many_attempts: { closeCode: 4429, httpStatus: 429, message: 'Too many failed attempts from this address; wait a minute.' },
  // The API key's own limits (set with keys-admin), across every gateway.
  key_peer_limit: { closeCode: 4429, httpStatus: 429, message: 'This API key already has as many peers in calls as it allows; try again when one has left.' },
  key_line_limit: { closeCode: 4429, httpStatus: 429, message: 'This API key already has as many lines in use as it allows; try again when one has ended.' },
  key_mobile_only: { closeCode: 4403, httpStatus: 403, message: 'This API key allows only mobile calls: open the link with mobile=1.' },
  no_relay: { closeCode: 4503, httpStatus: 503, message: 'No relay is available; try again shortly.' },
  unavailable: { closeCode: 1013, httpStatus: 503, message: 'The server cannot check keys right now; try again shortly.' },
  draining: { closeCode: 1001, httpStatus: 503, message: 'The server is restarting; reconnect.' },
  message_too_big: { closeCode: 1009, httpStatus: 413, message: 'A message was larger than the server accepts.' },
  // Reported in an `error` message without closing: the call goes on.
  malformed_frame: { closeCode: 0, httpStatus: 400, message: 'An audio frame was malformed and was dropped.' },
  over_budget: { closeCode: 0, httpStatus: 429, message: 'Sending faster than the bandwidth budget; the excess was dropped.' },
} as const;

export type ErrorCode = keyof typeof ERRORS;

/** Close codes after which a client should not reconnect by itself: a person has to act. */
export const FINAL_CLOSE_CODES: ReadonlySet<number> = new Set([4400, 4401, 4403, 4409, 4429]);

/**
 * The refusals a client can meet before its socket opens. A refused upgrade carries only its HTTP
 * status, so a client reads back the refusal from it ({@link upgradeRefusalForStatus}); the gateway
 * also answers `not_found` (404) for a wrong path, which a client reports as a failed connection.
 */
export const UPGRADE_REFUSALS = ['bad_origin', 'too_many_attempts', 'draining'] as const satisfies readonly ErrorCode[];

export function upgradeRefusalForStatus(httpStatus: number): (typeof UPGRADE_REFUSALS)[number] | undefined {
  return UPGRADE_REFUSALS.find((code) => ERRORS[code].httpStatus === httpStatus);
}

export function errorForCloseCode(closeCode: number, reason?: string): ErrorCode | undefined {
  if (reason && reason in ERRORS) return reason as ErrorCode;
  for (const [code, info] of Object.entries(ERRORS)) if (info.closeCode === closeCode) return code as ErrorCode;
  return undefined;
}

/**
 * Why a connection closed, for a person: the code from the close frame (or else from the last
 * `error` message the server sent), and that error's words, or else the code's; no words when
 * neither tells (the caller says the connection was lost).
 */
export function describeClose(closeCode: number, reason: string, lastError?: { code: ErrorCode; message: string }): { code?: ErrorCode; message?: string } {
  const code = errorForCloseCode(closeCode, reason) ?? lastError?.code;
  return { code, message: lastError?.message ?? (code ? ERRORS[code].message : undefined) };
}
