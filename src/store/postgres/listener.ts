/**
 * The LISTEN connection of the PostgreSQL store: one dedicated client that subscribes to the
 * outbox's channel and comes back by itself, with backoff, after the server restarts or the
 * network drops. Each (re)connection is followed by a wake, since events may have arrived while
 * nobody listened. Polling by the dispatcher stays the safety net.
 */
import pg from 'pg';

export interface ListenerOptions {
  client: pg.ClientConfig;
  channel: string;
  /** Called on every notification and after every successful (re)subscription. */
  onWake: () => void;
  /** First reconnection delay, in milliseconds. */
  reconnectMinMs: number;
  /** Longest reconnection delay, in milliseconds. */
  reconnectMaxMs: number;
}

export class WakeListener {
  #client: pg.Client | undefined;
  #timer: NodeJS.Timeout | undefined;
  #failures = 0;
  #closed = false;
  #listening = false;
  #connecting = false;

  constructor(private readonly options: ListenerOptions) {
    void this.#connect();
  }

  /** Whether the LISTEN is in place right now. */
  get listening(): boolean {
    return this.#listening;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listening = false;
    if (this.#timer !== undefined) clearTimeout(this.#timer);

    const client = this.#client;
    this.#client = undefined;
    await client?.end().catch(() => undefined);
  }

  async #connect(): Promise<void> {
    if (this.#closed || this.#connecting) return;

    this.#connecting = true;
    const client = new pg.Client({ ...this.options.client, keepAlive: true });
    client.on('error', () => this.#lost(client));
    client.on('end', () => this.#lost(client));
    client.on('notification', (message) => {
      if (message.channel === this.options.channel) this.options.onWake();
    });
    this.#client = client;
    try {
      await client.connect();
      await client.query(`LISTEN "${this.options.channel.replaceAll('"', '""')}"`);
      if (this.#closed) {
        await client.end().catch(() => undefined);

        return;
      }

      this.#failures = 0;
      this.#listening = true;
      this.options.onWake();
    } catch {
      this.#lost(client);
    } finally {
      this.#connecting = false;
    }
  }

  #lost(client: pg.Client): void {
    if (this.#client !== client) return;

    this.#client = undefined;
    this.#listening = false;
    client.removeAllListeners('notification');
    client.end().catch(() => undefined);
    if (this.#closed) return;

    // Exponential backoff with full jitter, floored at the minimum delay.
    const ceiling = Math.min(
      this.options.reconnectMaxMs,
      this.options.reconnectMinMs * 2 ** Math.min(this.#failures, 20),
    );
    const delay = this.options.reconnectMinMs + Math.random() * ceiling;
    this.#failures += 1;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#connect();
    }, delay);
    this.#timer.unref();
  }
}
