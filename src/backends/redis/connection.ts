import type { RedisClient } from './scripts.js';

/**
 * The client a backend uses, and whether the backend owns it. A lazily created client is connected
 * on first use (never in a constructor); a user's client is used as it is, except that a lazy one
 * (`lazyConnect`) is connected on first use too.
 */
export class Connection {
  readonly client: RedisClient;
  readonly owned: boolean;
  #connecting: Promise<void> | undefined;

  constructor(client: RedisClient, owned: boolean) {
    this.client = client;
    this.owned = owned;
  }

  /** Resolves at once when connected; connects a client that never tried. Never rejects. */
  ready(): Promise<void> | undefined {
    if (this.#connecting || this.client.status !== 'wait') return this.#connecting;
    const done = () => {
      this.#connecting = undefined;
    };
    this.#connecting = this.client.connect().then(done, done);
    return this.#connecting;
  }

  async close(): Promise<void> {
    if (!this.owned) return;
    const status = this.client.status;
    if (status === 'end') return;
    let timer: NodeJS.Timeout | undefined;
    const ended = new Promise<void>((resolve) => {
      this.client.once('end', () => resolve());
      // A client between reconnection attempts has no socket left to close and may not emit 'end'.
      timer = setTimeout(resolve, 1000);
    });
    if (status === 'ready') {
      await this.client.quit().catch(() => this.client.disconnect());
    } else {
      this.client.disconnect();
    }
    if (this.client.status !== 'end') await ended;
    clearTimeout(timer);
  }
}
