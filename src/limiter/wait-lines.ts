import type { LimitStore } from '../backends/types.js';
import { whenAborted } from '../core/abort.js';
import type { Clock } from '../core/clock.js';
import { AbortError, CostExceedsCapacityError, TimeoutError } from '../core/errors.js';
import type { Decision } from '../core/types.js';
import { chosenPlan } from '../engine/choices.js';
import type { Plan } from '../engine/plan.js';
import { lineKey } from './pools.js';

interface Waiter {
  plan: Plan;
  signal: AbortSignal;
  resolve(decision: Decision): void;
  reject(error: unknown): void;
  done: boolean;
}

interface Group {
  waiters: Waiter[];
  wake: AbortController;
}

/**
 * The waiting side of `RateLimiter#acquire`: one line per scope set (per pool for pooled plans), served first
 * come, first served; only the head of a line sleeps on the clock, exactly until its computed time, and a
 * refund or reset wakes every line to re-check at once.
 */
export class WaitLines {
  readonly #store: LimitStore;
  readonly #clock: Clock;
  readonly #groups = new Map<string, Group>();

  constructor(store: LimitStore, clock: Clock) {
    this.#store = store;
    this.#clock = clock;
  }

  /**
   * Synchronous stores only: admits (charges) `plan` now when nobody waits in its line and it fits, as
   * {@link acquire} would without waiting; `undefined` otherwise, nothing charged (call `acquire` then).
   */
  admitNow(plan: Plan): Decision | undefined {
    if (!this.#store.sync || this.#groups.has(lineKey(plan))) return undefined;
    const decision = this.#store.decide(plan, this.#clock.now()) as Decision;
    return decision.allowed ? decision : undefined;
  }

  /**
   * Decides `plan` now, or waits in its line until it is admitted (charged), aborted or out of time (nothing
   * charged). `timeout` is in ms of the clock.
   */
  async acquire(plan: Plan, signal: AbortSignal | undefined, timeout: number | undefined): Promise<Decision> {
    const groupKey = lineKey(plan);
    if (!this.#groups.has(groupKey)) {
      // Hold the line while deciding, so that a request made meanwhile queues behind this one (FIFO).
      const line: Group = { waiters: [], wake: new AbortController() };
      this.#groups.set(groupKey, line);
      let decision: Decision;
      try {
        decision = await this.#store.decide(plan, this.#clock.now());
      } catch (error) {
        this.#releaseLine(groupKey, line);
        throw error;
      }
      if (decision.allowed || decision.retryAfterMs === Number.POSITIVE_INFINITY) {
        this.#releaseLine(groupKey, line);
        if (decision.allowed) return decision;
        throw capacityError(decision, plan);
      }
      return this.#wait(groupKey, plan, signal, timeout, line);
    }
    return this.#wait(groupKey, plan, signal, timeout);
  }

  /** Gives up a line held by `acquire`: the waiters that queued in it meanwhile are served; else it is dropped. */
  #releaseLine(groupKey: string, line: Group): void {
    if (this.#groups.get(groupKey) !== line) return;
    if (line.waiters.length > 0) void this.#serve(groupKey, line);
    else this.#groups.delete(groupKey);
  }

  #wait(
    groupKey: string,
    plan: Plan,
    signal: AbortSignal | undefined,
    timeout: number | undefined,
    line?: Group,
  ): Promise<Decision> {
    return new Promise<Decision>((resolve, reject) => {
      if (signal?.aborted) {
        // Aborted while the first decision was made: nothing was charged.
        if (line) this.#releaseLine(groupKey, line);
        return reject(abortError(signal));
      }
      const controller = new AbortController();
      const cleanup = () => {
        controller.abort();
        cancel?.();
      };
      const waiter: Waiter = {
        plan,
        signal: controller.signal,
        done: false,
        resolve: (decision) => {
          waiter.done = true;
          cleanup();
          resolve(decision);
        },
        reject: (error) => {
          waiter.done = true;
          cleanup();
          reject(error);
        },
      };
      const cancel = signal
        ? whenAborted(signal, () => this.#abandon(groupKey, waiter, abortError(signal)))
        : undefined;
      if (timeout !== undefined) {
        this.#clock.sleep(timeout, controller.signal).then(
          () => this.#abandon(groupKey, waiter, new TimeoutError(timeout)),
          () => {},
        );
      }
      if (line) {
        // The line this request held while deciding: it goes first.
        line.waiters.unshift(waiter);
        void this.#serve(groupKey, line);
        return;
      }
      let group = this.#groups.get(groupKey);
      if (group) {
        group.waiters.push(waiter);
      } else {
        group = { waiters: [waiter], wake: new AbortController() };
        this.#groups.set(groupKey, group);
        void this.#serve(groupKey, group);
      }
    });
  }

  #abandon(groupKey: string, waiter: Waiter, error: Error): void {
    if (waiter.done) return;
    const group = this.#groups.get(groupKey);
    if (group) {
      const index = group.waiters.indexOf(waiter);
      if (index >= 0) group.waiters.splice(index, 1);
    }
    waiter.reject(error);
  }

  /** Serves a group's waiters in order: only the head waits on the clock; the rest queue behind it. */
  async #serve(groupKey: string, group: Group): Promise<void> {
    try {
      while (group.waiters.length > 0) {
        const head = group.waiters[0]!;
        let decision: Decision;
        try {
          decision = await this.#store.decide(head.plan, this.#clock.now());
        } catch (error) {
          if (group.waiters[0] === head) group.waiters.shift();
          head.reject(error);
          continue;
        }
        if (head.done) {
          // Abandoned while deciding: give back what was charged for it.
          if (decision.allowed) await this.#refund(chosenPlan(head.plan, decision));
          continue;
        }
        if (decision.allowed) {
          group.waiters.shift();
          head.resolve(decision);
          continue;
        }
        if (decision.retryAfterMs === Number.POSITIVE_INFINITY) {
          group.waiters.shift();
          head.reject(capacityError(decision, head.plan));
          continue;
        }
        const wake = group.wake.signal;
        await this.#clock.sleep(decision.retryAfterMs, AbortSignal.any([head.signal, wake])).catch(() => {});
        if (group.wake.signal.aborted) group.wake = new AbortController();
      }
    } finally {
      this.#groups.delete(groupKey);
    }
  }

  async #refund(plan: Plan): Promise<void> {
    await this.#store.adjust(
      plan.items.map((item) => ({ ...item, cost: -item.cost })),
      this.#clock.now(),
    );
  }

  /** Wakes every waiter to re-check now (after a refund or reset made room). */
  wakeAll(): void {
    for (const group of this.#groups.values()) group.wake.abort();
  }
}

export function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error && signal.reason.name !== 'AbortError'
    ? new AbortError(signal.reason.message, { cause: signal.reason })
    : new AbortError();
}

function capacityError(decision: Decision, plan: Plan): CostExceedsCapacityError {
  const blocked = decision.blockedBy;
  const item = chosenPlan(plan, decision).items.find(
    (i) => i.scope === blocked?.scope && i.rule.name === blocked?.rule,
  );
  return new CostExceedsCapacityError(
    blocked?.scope ?? '?',
    blocked?.rule ?? '?',
    item?.cost ?? Number.NaN,
    item?.rule.capacity ?? decision.limit,
  );
}
