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
 * Limit state in a `Map` of scopes, for one process. Synchronous, so every decision is trivially atomic.
 * A scope's rule states are {@link Cell}s charged in place and chained together (`Cell.next`); the map holds
 * the first of them, so one lookup per scope finds all its states, and the common one-rule scope is one
 * map entry pointing at one object. Plan items remember their scope's first cell (`PlanItem.slot`), so
 * that a decision through items the limiter shares (exact scopes, a repeated scope) looks nothing up.
 *
 * Memory stays bounded: idle entries are swept a few at a time as operations run.
 */
export class MemoryLimitStore implements LimitStore {
  readonly sync = true;
  /** The first cell of each scope's chain. */
  readonly #scopes = new Map<string, Cell>();
  readonly #blocks = new Map<string, number>();
  #cellCount = 0;
  #ops = 0;
  /** Entries created since the last sweep: each sweep examines more than that, so it keeps up. */
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
    return this.#cellCount;
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
      const head = this.#headOf(item);
      const cell = head === undefined ? undefined : this.#cellIn(head, item);
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
    let head: Cell | undefined;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      // Items of one scope are adjacent: one lookup per scope.
      // (A head replaced meanwhile, its rule redefined, is found again.)
      if (i === 0 || item.scope !== items[i - 1]!.scope || !head?.live) head = this.#headOf(item);
      const cell = head === undefined ? undefined : this.#cellIn(head, item);
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

  /** The first cell of an item's scope, if any: the one its slot remembers while still held here, else the map's. */
  #headOf(item: PlanItem): Cell | undefined {
    const known = item.slot as Cell | undefined;
    if (known?.live && known.store === this) return known;
    const head = this.#scopes.get(item.scope);
    if (head !== undefined) item.slot = head;
    return head;
  }

  /**
   * The cell of an item's rule in its scope's chain (from `head`), if any. A cell made under an earlier
   * definition of the rule (same name) is carried over to the current one.
   */
  #cellIn(head: Cell, item: PlanItem): Cell | undefined {
    const rule = item.rule;
    for (let cell: Cell | undefined = head; cell !== undefined; cell = cell.next) {
      if (cell.rule === rule) return cell;
    }
    for (let cell: Cell | undefined = head; cell !== undefined; cell = cell.next) {
      if (cell.rule.name === rule.name) {
        return this.#replace(
          cell,
          cellFor(item.key, item.scope, rule, this, cell.state(), cell.rule.algorithm),
        );
      }
    }
    return undefined;
  }

  /**
   * Puts `cell` in the place of `old` in its scope's chain; returns `cell`. The chain is walked from the
   * map's head (a head a caller holds may have been replaced meanwhile: it is dead, its `next` stale).
   */
  #replace(old: Cell, cell: Cell): Cell {
    old.live = false;
    cell.next = old.next;
    const head = this.#scopes.get(old.scope)!;
    if (old === head) {
      this.#scopes.set(cell.scope, cell);
    } else {
      let prev = head;
      while (prev.next !== old) prev = prev.next!;
      prev.next = cell;
    }
    return cell;
  }

  #cellOf(item: PlanItem): Cell | undefined {
    const head = this.#headOf(item);
    return head === undefined ? undefined : this.#cellIn(head, item);
  }

  /** Sets the cell of an item's state (in the place of the one of its rule's name, if any). */
  #create(item: PlanItem, state: RuleState): Cell {
    const cell = cellFor(item.key, item.scope, item.rule, this, state);
    const head = this.#headOf(item);
    if (head === undefined) {
      this.#scopes.set(item.scope, cell);
      item.slot = cell;
      this.#created++;
      this.#cellCount++;
      return cell;
    }
    for (let old: Cell | undefined = head; old !== undefined; old = old.next) {
      if (old.rule.name === item.rule.name) return this.#replace(old, cell);
    }
    // Appended, so that the head (which slots remember) stays.
    let last = head;
    while (last.next !== undefined) last = last.next;
    last.next = cell;
    this.#cellCount++;
    return cell;
  }

  /** Deletes a scope's chain; a slot that still holds one of its cells sees it is gone. */
  #delete(head: Cell): void {
    for (let cell: Cell | undefined = head; cell !== undefined; cell = cell.next) {
      cell.live = false;
      this.#cellCount--;
    }
    this.#scopes.delete(head.scope);
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
    const states = plan.items.map((item) => {
      let cell = this.#scopes.get(item.scope);
      while (cell !== undefined && cell.rule.name !== item.rule.name) cell = cell.next;
      return cell?.state();
    });
    return describeStates(plan, states, this.#blocks, now);
  }

  reset(scope?: string): void {
    if (scope === undefined) {
      for (const head of this.#scopes.values()) this.#delete(head);
      this.#blocks.clear();
      return;
    }
    this.#blocks.delete(scope);
    const head = this.#scopes.get(scope);
    if (head !== undefined) this.#delete(head);
  }

  #blocksOf(plan: Plan): number[] {
    return plan.scopes.map((scope) => this.#blocks.get(scope) ?? 0);
  }

  /**
   * Deletes idle entries among the next `256 + 2 × created-since-last-sweep` ones, resuming where the last
   * sweep stopped: it examines entries faster than they are created, so it keeps finishing passes and the
   * map stays bounded by the scopes live within about one pass, even when every request uses a new key.
   */
  #sweep(now: number): void {
    const budget = 256 + 2 * this.#created;
    this.#created = 0;
    this.#sweeper ??= this.#scopes.values();
    for (let i = 0; i < budget; i++) {
      const next = this.#sweeper.next();
      if (next.done) {
        this.#sweeper = undefined;
        break;
      }
      if (idleAt(next.value) + IDLE_GRACE_MS <= now) this.#delete(next.value);
    }
    for (const [scope, until] of this.#blocks) if (until + IDLE_GRACE_MS <= now) this.#blocks.delete(scope);
  }
}

/** When the last state of a scope's chain goes idle. */
function idleAt(head: Cell): number {
  let at = Number.NEGATIVE_INFINITY;
  for (let cell: Cell | undefined = head; cell !== undefined; cell = cell.next)
    at = Math.max(at, cell.idleAt());
  return at;
}
