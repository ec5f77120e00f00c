/**
 * Every figure the call core works by, in one place: the web page and the Node peer both read
 * these (they used to keep their own copies, and drifted).
 */

/**
 * Delays before each reconnect attempt, in ms; the last one repeats. The first retry is quick
 * (a dropped connection or a drained gateway usually has a healthy neighbour at once), later
 * ones back off so a server that is down is not hammered by every peer it had.
 */
export const RECONNECT_DELAYS_MS: readonly number[] = [100, 250, 500, 1000, 2000, 5000];

/**
 * Each reconnect delay is spread by up to this fraction either way, so peers dropped together
 * (a gateway restart) do not come back in one burst.
 */
export const RECONNECT_JITTER = 0.2;

/**
 * A frame is skipped, never queued, while the socket holds more than this unsent: 256 KiB is
 * about 0.65 s of full-rate audio (the gateway's own slow-reader limit); past that the link is not
 * keeping up and older audio would only add delay.
 */
export const SEND_BUFFER_LIMIT_BYTES = 256 * 1024;

/** How often the core pings the gateway to measure the round trip. */
export const PING_INTERVAL_MS = 2000;

/** Bitrates are shown over this window: steady enough to read, recent enough to show a change. */
export const RATE_WINDOW_MS = 2000;

/** The Node peer gives up when nobody else has joined after this long. */
export const PEER_WAIT_TIMEOUT_MS = 60_000;

/** After sending, the Node peer waits for the others' last frames until it has been quiet this long... */
export const LINGER_QUIET_MS = 500;
/** ...but no longer than this. */
export const LINGER_MAX_MS = 3000;

/**
 * A recording keeps at most this much PCM in memory (all tracks together): 512 MiB is about 22
 * minutes of one full-rate sender. Frames past it are not kept, and are counted.
 */
export const RECORDING_MAX_BYTES = 512 * 1024 * 1024;

/**
 * A real-time sender that fell behind (a stalled event loop, a busy machine) sends its overdue
 * frames at once only while they are at most this late; older ones are skipped and counted as
 * unsent. 200 ms keeps the catch-up burst well inside what the gateway accepts (about 500 ms of
 * audio within its 1 s budget window), so a late sender is never throttled into losing more, and
 * the receiver is not handed audio that its jitter buffer would discard anyway.
 */
export const SEND_MAX_LATE_MS = 200;
