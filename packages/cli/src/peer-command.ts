import { readFileSync, writeFileSync } from 'node:fs';
import { formatCallLink, generateLeaf, parseCallLink, parseLeaf, MOBILE_SAMPLE_RATE, STUDIO_SAMPLE_RATE } from '@studioline/protocol';
import { AudioSource, NodePeer, PeerSummary, decodeWav, encodeWav, toneSource, wavSource } from '@studioline/client';

export interface PeerCommandOptions {
  link: string;
  tone?: number;
  wav?: string;
  seconds?: number;
  record?: string;
  json: boolean;
  wait: boolean;
}

export function formatSummary(s: PeerSummary): string {
  return `frames sent ${s.sent}, received ${s.received}, lost ${s.lost}, replayed ${s.replayed}, failed to decrypt ${s.decryptFailed}` +
    (s.reconnects ? `, reconnects ${s.reconnects}` : '') +
    (s.unsent ? `, not sent (disconnected or backlogged) ${s.unsent}` : '');
}

/** `studioline peer LINK`: joins, sends a tone or a WAV at real time, records what it hears. */
export async function runPeer(options: PeerCommandOptions): Promise<PeerSummary> {
  let link = parseCallLink(options.link);
  if (link.generateLeaf) {
    const leaf = generateLeaf();
    const full = formatCallLink(link.origin, link.apiKey, leaf, link.mobile);
    process.stderr.write(`New line. Share this link privately with the other peer:\n  ${full}\n`);
    link = { ...link, leaf, leafBytes: parseLeaf(leaf), generateLeaf: false };
  }
  let source: AudioSource;
  let seconds = options.seconds;
  if (options.wav) {
    const pcm = decodeWav(readFileSync(options.wav));
    source = wavSource(pcm);
    seconds ??= pcm.samples.length / pcm.sampleRate;
  } else {
    source = toneSource(options.tone ?? 440, link.mobile ? MOBILE_SAMPLE_RATE : STUDIO_SAMPLE_RATE);
  }
  const peer = new NodePeer({
    link,
    source,
    seconds: seconds ?? 10,
    waitForPeer: options.wait,
    record: Boolean(options.record),
    onProgress: (m) => process.stderr.write(`studioline peer: ${m}\n`),
  });
  const summary = await peer.run();
  if (options.record && summary.recording) {
    writeFileSync(options.record, encodeWav(summary.recording));
    process.stderr.write(`studioline peer: recorded ${(summary.recording.samples.length / summary.recording.sampleRate).toFixed(2)} s to ${options.record}\n`);
  }
  const { recording: _recording, ...figures } = summary;
  process.stdout.write(options.json ? JSON.stringify(figures) + '\n' : formatSummary(summary) + '\n');
  return summary;
}
