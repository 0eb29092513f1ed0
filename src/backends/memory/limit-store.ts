import { algorithms } from '../../algorithms/index.js';
import type { RuleState } from '../../algorithms/types.js';
import type { Decision, RuleStats } from '../../core/types.js';
import { decideChoices } from '../../engine/choices.js';
import { allowed, decisionOf, describeStates } from '../../engine/evaluate.js';
import type { Plan, PlanItem } from '../../engine/plan.js';
import type { LimitStore } from '../types.js';
import { type Cell, cellFor } from './cells.js';

const NO_BLOCKS: readonly number[] = [];
const NEVER_USED: RuleState = [];

/**
 * How long an idle state (or an ended block) is kept before a sweep deletes it: a clock lagging by less than
 * this sees it exactly (see src/engine/README.md, clock skew). Keeping an idle state changes nothing (it equals
 * "never used"), and a key used every few ms whose state goes idle in between (a token bucket refilled at
 * once) would otherwise be deleted and created again on nearly every use.
 */
const IDLE_GRACE_MS = 1000;

/**
 * Limit state in a `Map`, for one process. Synchronous, so every decision is trivially atomic. Each rule
 * state is a {@link Cell} charged in place; plan items remember their cells (`PlanItem.slot`), so that a
 * decision through the limiter's plan cache looks nothing up.
 *
 * Memory stays bounded: idle states are swept a few at a time as operations run.
 */
export class MemoryLimitStore implements LimitStore {
  readonly sync = true;
  readonly #cells = new Map<string, Cell>();
  readonly #blocks = new Map<string, number>();
  #ops = 0;
  /** Cells created since the last sweep: each sweep examines more than that, so it keeps up. */
  #created = 0;
  #sweeper: Iterator<Cell> | undefined;
  /**
   * Scratch arrays of `#decide`, reused because it is synchronous and never re-entered: the cells of the
   * plan being decided and their answers (positions past the plan's length are stale and never read).
   */
  readonly #found: Array<Cell | undefined> = [];
  readonly #remaining: number[] = [];
  readonly #waits: number[] = [];

  /** Number of rule states held (for tests of bounded memory). */
  get size(): number {
    return this.#cells.size;
  }

  decide(plan: Plan, now: number): Decision {
    return this.#decide(plan, now, true);
  }

  decideMany(plans: readonly Plan[], now: number): Decision[] {
    return plans.map((plan) => this.#decide(plan, now, true));
  }

  peek(plan: Plan, now: number): Decision {
    return this.#decide(plan, now, false);
  }

  #decide(plan: Plan, now: number, charge: boolean): Decision {
    if (plan.choices !== undefined) return decideChoices(plan.choices, (p) => this.#decide(p, now, charge));
    if ((++this.#ops & 1023) === 0) this.#sweep(now);
    const items = plan.items;
    if (items.length === 1 && this.#blocks.size === 0) {
      // The most common plan: one rule of one scope, nothing blocked.
      const item = items[0]!;
      const cell = this.#cellOf(item);
      if (cell !== undefined) {
        const cost = item.cost;
        if (cell.wait(now, cost) <= 0) {
          const left = Math.max(0, cell.remaining(now) - cost);
          if (charge) cell.charge(now, cost);
          return allowed(left, item.rule.limit);
        }
      }
    }
    const found = this.#found;
    const remaining = this.#remaining;
    const waits = this.#waits;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      const cell = this.#cellOf(item);
      found[i] = cell;
      if (cell !== undefined) {
        remaining[i] = cell.remaining(now);
        waits[i] = cell.wait(now, item.cost);
      } else {
        const algorithm = algorithms[item.rule.algorithm];
        remaining[i] = algorithm.remaining(undefined, now, item.rule);
        waits[i] = algorithm.wait(undefined, now, item.cost, item.rule);
      }
    }
    const blocks = this.#blocks.size === 0 ? NO_BLOCKS : this.#blocksOf(plan);
    const decision = decisionOf(plan, remaining, waits, blocks, now);
    if (charge && decision.allowed) {
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        const cell = found[i] ?? this.#create(item, NEVER_USED);
        cell.charge(now, item.cost);
      }
    }
    return decision;
  }

  /**
   * The cell of an item's state, if any: the one its slot remembers when that is still this store's cell for
   * the key under the item's rule; else from the map (and then remembered). A cell made under an earlier
   * definition of the rule is carried over to the current one.
   */
  #cellOf(item: PlanItem): Cell | undefined {
    const known = item.slot as Cell | undefined;
    if (known?.live && known.store === this && known.rule === item.rule) return known;
    let cell = this.#cells.get(item.key);
    if (cell === undefined) return undefined;
    if (cell.rule !== item.rule) {
      const state = cell.state();
      cell.live = false;
      cell = cellFor(item.key, item.scope, item.rule, this, state, cell.rule.algorithm);
      this.#cells.set(item.key, cell);
    }
    item.slot = cell;
    return cell;
  }

  /** Adds the cell of an item's state. */
  #create(item: PlanItem, state: RuleState): Cell {
    const old = this.#cells.get(item.key);
    if (old !== undefined) old.live = false;
    const cell = cellFor(item.key, item.scope, item.rule, this, state);
    this.#cells.set(item.key, cell);
    item.slot = cell;
    this.#created++;
    return cell;
  }

  /** Deletes a cell; a slot that still holds it sees it is gone. */
  #delete(cell: Cell): void {
    cell.live = false;
    this.#cells.delete(cell.key);
  }

  adjust(items: readonly PlanItem[], now: number): void {
    for (const item of items) {
      const cell = this.#cellOf(item);
      // A correction upwards, now, is what `charge` does in every algorithm (`adjust` ≡ `charge` for a
      // delta >= 0 without `at`): charged in place, no state array rebuilt.
      if (item.cost >= 0 && item.at === undefined) {
        (cell ?? this.#create(item, NEVER_USED)).charge(now, item.cost);
        continue;
      }
      const state = cell?.state();
      this.#create(item, algorithms[item.rule.algorithm].adjust(state, now, item.cost, item.rule, item.at));
    }
  }

  block(scopes: readonly string[], until: number): void {
    for (const scope of scopes) {
      if ((this.#blocks.get(scope) ?? 0) < until) this.#blocks.set(scope, until);
    }
  }

  inspect(plan: Plan, now: number): RuleStats[] {
    const states = plan.items.map((item) => this.#cells.get(item.key)?.state());
    return describeStates(plan, states, this.#blocks, now);
  }

  reset(scope?: string): void {
    if (scope === undefined) {
      for (const cell of this.#cells.values()) cell.live = false;
      this.#cells.clear();
      this.#blocks.clear();
      return;
    }
    this.#blocks.delete(scope);
    for (const cell of this.#cells.values()) if (cell.scope === scope) this.#delete(cell);
  }

  #blocksOf(plan: Plan): number[] {
    return plan.scopes.map((scope) => this.#blocks.get(scope) ?? 0);
  }

  /**
   * Deletes idle cells among the next `256 + 2 × created-since-last-sweep` ones, resuming where the last
   * sweep stopped: it examines cells faster than they are created, so it keeps finishing passes and the
   * map stays bounded by the keys live within about one pass, even when every request uses a new key.
   */
  #sweep(now: number): void {
    const budget = 256 + 2 * this.#created;
    this.#created = 0;
    this.#sweeper ??= this.#cells.values();
    for (let i = 0; i < budget; i++) {
      const next = this.#sweeper.next();
      if (next.done) {
        this.#sweeper = undefined;
        break;
      }
      if (next.value.idleAt() + IDLE_GRACE_MS <= now) this.#delete(next.value);
    }
    for (const [scope, until] of this.#blocks) if (until + IDLE_GRACE_MS <= now) this.#blocks.delete(scope);
  }
}
