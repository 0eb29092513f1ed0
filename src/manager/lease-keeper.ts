import type { LeaseRef, QueueStore } from '../backends/types.js';
import type { Clock } from '../core/clock.js';

/**
 * Keeps the leases of the batches this process is delivering: every `leaseMs / 3` it extends them all to
 * `now + leaseMs` in one store call, so a lease stays short (a process that dies is noticed within
 * about `leaseMs`) however long its sender works. A lease the store reports as no longer held was taken
 * over by another process (this one stalled past its lease): it is handed to `onLost` and not renewed.
 *
 * The keeper runs while the manager runs and while `stop()` waits for the sender, so a graceful stop
 * never loses a lease. It is its own timer, not a step of the delivery loop, so a slow pass cannot
 * starve it.
 */
export class LeaseKeeper {
  readonly #queue: QueueStore<unknown>;
  readonly #clock: Clock;
  readonly #leaseMs: number;
  readonly #onLost: (leases: LeaseRef[]) => void;
  readonly #onFault: (error: unknown) => void;
  /** The leases kept, by identity: a lease is one object from dispatch to its last store write. */
  readonly #leases = new Set<LeaseRef>();
  #stop: AbortController | undefined;
  #running: Promise<void> | undefined;

  constructor(options: {
    queue: QueueStore<unknown>;
    clock: Clock;
    leaseMs: number;
    onLost(leases: LeaseRef[]): void;
    onFault(error: unknown): void;
  }) {
    this.#queue = options.queue;
    this.#clock = options.clock;
    this.#leaseMs = options.leaseMs;
    this.#onLost = options.onLost;
    this.#onFault = options.onFault;
  }

  /** Leases kept right now. */
  get size(): number {
    return this.#leases.size;
  }

  /** Renews `lease` (this very object) from now on, until {@link release}. */
  keep(lease: LeaseRef): void {
    this.#leases.add(lease);
  }

  release(lease: LeaseRef): void {
    this.#leases.delete(lease);
  }

  start(): void {
    if (this.#stop) return;
    const stop = new AbortController();
    this.#stop = stop;
    this.#running = this.#run(stop.signal);
  }

  async stop(): Promise<void> {
    this.#stop?.abort();
    this.#stop = undefined;
    await this.#running;
  }

  /** Extends every kept lease now (one store call). */
  async renew(): Promise<void> {
    if (this.#leases.size === 0) return;
    const leases = [...this.#leases];
    // Lost leases by identity, not job id: a job lost and claimed again by this process under a new
    // token is lost under its old lease only, and kept under the new one.
    const lost = new Set(await this.#queue.extend(leases, this.#clock.now() + this.#leaseMs));
    if (lost.size === 0) return;
    const gone = leases.filter((lease) => lost.has(lease));
    for (const lease of gone) this.#leases.delete(lease);
    if (gone.length > 0) this.#onLost(gone);
  }

  async #run(signal: AbortSignal): Promise<void> {
    const every = Math.max(1, Math.floor(this.#leaseMs / 3));
    while (!signal.aborted) {
      try {
        await this.#clock.sleep(every, signal);
      } catch {
        return;
      }
      try {
        await this.renew();
      } catch (error) {
        this.#onFault(error);
      }
    }
  }
}
