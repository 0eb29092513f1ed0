import type { LeaseRef, QueueStore } from '../backends/types.js';
import type { Clock } from '../core/clock.js';
import { errorText } from './failure.js';
import type { LeaseKeeper } from './lease-keeper.js';
import type { TurnBatch } from './turn-batch.js';

/** Tries of a completion write that fails while others succeed, before it is given up. */
export const COMPLETION_TRIES = 5;

export interface CompletionsContext {
  queue: Pick<QueueStore<unknown>, 'complete'>;
  clock: Clock;
  keeper: LeaseKeeper;
  fault(error: unknown): void;
  /**
   * The manager's turn transaction (SQLite): deliveries are then written in the commit of the turn under
   * way, with the offers arriving in it, instead of a commit of their own.
   */
  turn?: Pick<TurnBatch, 'run'>;
}

/**
 * The deliveries of a dispatcher waiting to be recorded: those of one tick are written in one store call
 * (`complete`) — on SQLite inside the turn transaction of the manager's offers (one commit for both). A
 * delivery that cannot be recorded is kept, its lease still renewed by the keeper, and written again on
 * the next flush, so it is not delivered twice; one that can never be written is given up after
 * {@link COMPLETION_TRIES} (see `#keepTrying`) and never holds back the others. (With a turn, those that
 * arrive while a failed write is under way wait for the next delivery or flush.)
 */
export class Completions {
  readonly #c: CompletionsContext;
  #completed: LeaseRef[] = [];
  /** Completions not written, with their counted tries (see `#keepTrying`). */
  readonly #tries = new Map<LeaseRef, { count: number; written: number }>();
  /** Completion writes that succeeded (a try of a failing one counts only when this moved). */
  #written = 0;
  #flushing: Promise<void> | undefined;
  /** The completion write under way, if any (a flush waits for it, so stop() never returns before it). */
  #writing: Promise<void> | undefined;

  constructor(context: CompletionsContext) {
    this.#c = context;
  }

  /** Deliveries not yet recorded. */
  get size(): number {
    return this.#completed.length;
  }

  /** A delivered batch: recorded on the next tick (with the others of that tick). */
  add(lease: LeaseRef): void {
    this.#completed.push(lease);
    this.#scheduleFlush();
  }

  /** Leases taken over by another process: their deliveries are no longer ours to record. */
  lost(leases: readonly LeaseRef[]): void {
    const gone = new Set(leases);
    this.#completed = this.#completed.filter((lease) => !gone.has(lease));
    for (const lease of leases) this.#tries.delete(lease);
  }

  /**
   * Records delivered batches in one store call; on failure keeps them for the next flush. Waits for a
   * write already under way first, so when it returns every delivery known before the call was written
   * (or is kept for another try).
   */
  async flush(): Promise<void> {
    while (this.#writing) await this.#writing;
    if (this.#completed.length === 0) return;
    let written = false;
    this.#writing = this.#write()
      .then((ok) => {
        written = ok;
      })
      .finally(() => {
        this.#writing = undefined;
        // Deliveries that arrived after the turn's commit took the others go in a turn of their own.
        if (written && this.#c.turn && this.#completed.length > 0) this.#scheduleFlush();
      });
    await this.#writing;
  }

  /** Writes the deliveries waiting (on a turn: those waiting at its commit). Whether that write succeeded. */
  async #write(): Promise<boolean> {
    let batch: LeaseRef[] | undefined;
    const take = () => {
      batch = this.#completed;
      this.#completed = [];
      return batch;
    };
    try {
      const turn = this.#c.turn;
      if (turn) await turn.run(() => this.#c.queue.complete(take(), this.#c.clock.now()));
      else await this.#c.queue.complete(take(), this.#c.clock.now());
    } catch (error) {
      this.#c.fault(error);
      // The turn's transaction failed before this write began: nothing was taken, all are still waiting.
      if (batch === undefined) return false;
      // Not recorded: written one by one, so one that cannot be written never holds back the others.
      const failed = batch.length === 1 ? [{ lease: batch[0]!, error }] : await this.#writeEach(batch);
      const kept = failed.filter(({ lease, error }) => this.#keepTrying(lease, error));
      this.#completed = kept.map((f) => f.lease).concat(this.#completed);
      return false;
    }
    this.#written++;
    for (const lease of batch!) this.#done(lease);
    return true;
  }

  async #writeEach(batch: LeaseRef[]): Promise<Array<{ lease: LeaseRef; error: unknown }>> {
    const failed: Array<{ lease: LeaseRef; error: unknown }> = [];
    for (const lease of batch) {
      try {
        await this.#c.queue.complete([lease], this.#c.clock.now());
        this.#written++;
        this.#done(lease);
      } catch (error) {
        failed.push({ lease, error });
      }
    }
    return failed;
  }

  #done(lease: LeaseRef): void {
    this.#tries.delete(lease);
    this.#c.keeper.release(lease);
  }

  /**
   * A completion was not written. It is kept (its lease renewed) and tried on the next flush; a failure
   * counts as a try only when other completions were written since its last one (the store works, this
   * write does not), so an unreachable store never gives anything up. After {@link COMPLETION_TRIES} it
   * is given up: reported, its lease no longer renewed (the job is recovered and delivered again).
   */
  #keepTrying(lease: LeaseRef, error: unknown): boolean {
    const entry = this.#tries.get(lease);
    if (!entry) {
      this.#tries.set(lease, { count: 0, written: this.#written });
      return true;
    }
    if (this.#written > entry.written) {
      entry.count++;
      entry.written = this.#written;
    }
    if (entry.count < COMPLETION_TRIES) return true;
    this.#tries.delete(lease);
    this.#c.keeper.release(lease);
    this.#c.fault(
      new Error(
        `the delivery of job ${lease.jobId} could not be recorded while others were; given up after ` +
          `${entry.count} tries (delivered again once its lease expires): ${errorText(error)}`,
        { cause: error },
      ),
    );
    return false;
  }

  #scheduleFlush(): void {
    if (this.#flushing) return;
    if (this.#c.turn) {
      // Into the turn transaction open now (or one of its own); a write under way takes these at its commit.
      if (!this.#writing) void this.flush();
      return;
    }
    this.#flushing = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
      this.#flushing = undefined;
      return this.flush();
    });
  }
}
