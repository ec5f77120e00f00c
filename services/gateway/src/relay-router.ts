/**
 * Knows the live relays and which one owns each line (rendezvous hashing), so that every gateway
 * sends a line's audio to the same relay without asking anyone.
 */
import { Logger, PresenceDirectory, pickRelay } from '@studioline/server-kit';

export class RelayRouter {
  private relays: string[] = [];

  constructor(
    private readonly directory: PresenceDirectory,
    private readonly logger: Logger,
    /** Called after the set of live relays changed. */
    private readonly onChange: () => void,
  ) {}

  get liveRelays(): readonly string[] {
    return this.relays;
  }

  relayFor(lineId: string): string | undefined {
    return pickRelay(lineId, this.relays);
  }

  isLive(relay: string): boolean {
    return this.relays.includes(relay);
  }

  /** Re-reads the directory; keeps the last known relays when it cannot be read. */
  async refresh(): Promise<void> {
    let live: string[];
    try {
      live = await this.directory.live();
    } catch {
      return;
    }
    if (live.join(',') === this.relays.join(',')) return;
    this.logger.info({ relays: live }, 'live relays changed');
    this.relays = live;
    this.onChange();
  }
}
