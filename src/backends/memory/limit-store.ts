import { algorithms } from '../../algorithms/index.js';
import type { RuleState } from '../../algorithms/types.js';
import type { CompiledRule, Decision, RuleStats } from '../../core/types.js';
import { decideChoices } from '../../engine/choices.js';
import { allowed, decisionOf, describeStates } from '../../engine/evaluate.js';
import { type Plan, type PlanItem, stateKey } from '../../engine/plan.js';
import type { ScopeRules } from '../../engine/rules.js';
import type { LimitStore } from '../types.js';
import { type Cell, cellFor } from './cells.js';
import { IDLE_GRACE_MS, Sweeper } from './sweeper.js';

const NO_BLOCKS: readonly number[] = [];
const NEVER_USED: RuleState = [];

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
  readonly #sweeper = new Sweeper(this.#scopes, (head) => this.#delete(head));
  /**
   * Scratch arrays of `#decide`, reused because it is synchronous and never re-entered: the cells of the
   * plan being decided and their answers (positions past the plan's length are stale and never read).
   */
  readonly #found: Array<Cell | undefined> = [];
  readonly #remaining: number[] = [];
  readonly #waits: number[] = [];
  /** Scratch of `#admitScopes`: the scope and rule of each cell in `#found`. */
  readonly #owners: string[] = [];
  readonly #charges: CompiledRule[] = [];

  /** Number of rule states held (for tests of bounded memory). */
  get size(): number {
    return this.#cellCount;
  }

  /** Entries the sweeps have examined so far (for tests of what sweeping costs). */
  get swept(): number {
    return this.#sweeper.examined;
  }

  decide(plan: Plan, now: number): Decision {
    return this.#decide(plan, now, true);
  }

  /**
   * {@link LimitStore.decideDefault}: one lookup per scope, no plan. An admission is decided and charged here;
   * anything else (a block held, a rule that refuses) is decided by the general path on the request's plan.
   */
  decideDefault(scopes: string | readonly string[], rules: ScopeRules, now: number): Decision {
    if ((++this.#ops & 1023) === 0) this.#sweep(now);
    if (this.#blocks.size === 0) {
      if (typeof scopes !== 'string')
        return this.#admitScopes(scopes, rules, now) ?? this.#fallback(scopes, rules, now);
      const head = this.#scopes.get(scopes);
      const charged = head === undefined ? rules.charged(scopes) : chargedOf(head, scopes, rules);
      if (charged.length === 1) {
        // The most common request: one scope with one rule.
        const rule = charged[0]!;
        const cell = head === undefined || head.rule === rule ? head : this.#cellIn(head, scopes, rule);
        if (cell !== undefined) {
          const left = cell.admit(now, 1);
          if (left >= 0) return allowed(left, rule.limit);
        } else if (head === undefined && algorithms[rule.algorithm].wait(undefined, now, 1, rule) <= 0) {
          const left = Math.max(0, algorithms[rule.algorithm].remaining(undefined, now, rule) - 1);
          this.#add(undefined, scopes, rule, NEVER_USED).charge(now, 1);
          return allowed(left, rule.limit);
        }
      } else {
        const decision = this.#admitScopes([scopes], rules, now);
        if (decision !== undefined) return decision;
      }
    }
    return this.#fallback(typeof scopes === 'string' ? [scopes] : scopes, rules, now);
  }

  /**
   * Admits and charges a default-cost request on `scopes` when every rule fits (the decision `decisionOf`
   * gives then: the rule with the smallest share left after the charge); `undefined`, charging nothing,
   * when one does not. Blocks are the caller's to check.
   */
  #admitScopes(scopes: readonly string[], rules: ScopeRules, now: number): Decision | undefined {
    const found = this.#found;
    const owners = this.#owners;
    const charges = this.#charges;
    let n = 0;
    let tightShare = Number.POSITIVE_INFINITY;
    let tightRemaining = Number.POSITIVE_INFINITY;
    let tightLimit = Number.POSITIVE_INFINITY;
    for (let i = 0; i < scopes.length; i++) {
      const scope = scopes[i]!;
      let head = this.#scopes.get(scope);
      const charged = head === undefined ? rules.charged(scope) : chargedOf(head, scope, rules);
      if (charged.length === 0) continue;
      for (let j = 0; j < charged.length; j++) {
        const rule = charged[j]!;
        // (A head replaced meanwhile, its rule redefined, is found again.)
        if (head !== undefined && head.store === undefined) head = this.#scopes.get(scope);
        const cell =
          head === undefined ? undefined : head.rule === rule ? head : this.#cellIn(head, scope, rule);
        let left: number;
        if (cell !== undefined) {
          if (cell.wait(now, 1) > 0) return undefined;
          left = cell.remaining(now) - 1;
        } else {
          const algorithm = algorithms[rule.algorithm];
          if (algorithm.wait(undefined, now, 1, rule) > 0) return undefined;
          left = algorithm.remaining(undefined, now, rule) - 1;
        }
        const share = rule.limit > 0 ? left / rule.limit : 0;
        if (share < tightShare) {
          tightShare = share;
          tightRemaining = Math.max(0, left);
          tightLimit = rule.limit;
        }
        found[n] = cell;
        owners[n] = scope;
        charges[n] = rule;
        n++;
      }
    }
    for (let k = 0; k < n; k++) {
      const cell = found[k];
      if (cell !== undefined) cell.charge(now, 1);
      else {
        const scope = owners[k]!;
        this.#add(this.#scopes.get(scope), scope, charges[k]!, NEVER_USED).charge(now, 1);
      }
    }
    return allowed(tightRemaining, tightLimit);
  }

  /** The general path for a default-cost request: its plan, decided (and charged if allowed). */
  #fallback(scopes: readonly string[], rules: ScopeRules, now: number): Decision {
    const items: PlanItem[] = [];
    for (let i = 0; i < scopes.length; i++) {
      const scope = scopes[i]!;
      const charged = rules.charged(scope);
      for (let j = 0; j < charged.length; j++) {
        const rule = charged[j]!;
        items.push({ scope, key: stateKey(scope, rule.name), rule, cost: 1 });
      }
    }
    return this.#decide({ scopes, items }, now, true);
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
      const cell = head === undefined ? undefined : this.#cellIn(head, item.scope, item.rule);
      if (cell !== undefined) {
        const cost = item.cost;
        if (!charge) {
          if (cell.wait(now, cost) <= 0)
            return allowed(Math.max(0, cell.remaining(now) - cost), item.rule.limit);
        } else {
          const left = cell.admit(now, cost);
          if (left >= 0) return allowed(left, item.rule.limit);
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
      if (i === 0 || item.scope !== items[i - 1]!.scope || head?.store === undefined)
        head = this.#headOf(item);
      const cell = head === undefined ? undefined : this.#cellIn(head, item.scope, item.rule);
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
    if (known !== undefined && known.store === this) return known;
    const head = this.#scopes.get(item.scope);
    if (head !== undefined) item.slot = head;
    return head;
  }

  /**
   * The cell of `rule` in the chain of `scope` (from `head`), if any. A cell made under an earlier
   * definition of the rule (same name) is carried over to the current one.
   */
  #cellIn(head: Cell, scope: string, rule: CompiledRule): Cell | undefined {
    for (let cell: Cell | undefined = head; cell !== undefined; cell = cell.next) {
      if (cell.rule === rule) return cell;
    }
    for (let cell: Cell | undefined = head; cell !== undefined; cell = cell.next) {
      if (cell.rule.name === rule.name) {
        return this.#replace(cell, cellFor(scope, rule, this, cell.state(), cell.rule.algorithm));
      }
    }
    return undefined;
  }

  /**
   * Puts `cell` in the place of `old` in its scope's chain; returns `cell`. The chain is walked from the
   * map's head (a head a caller holds may have been replaced meanwhile: it is dead, its `next` stale).
   */
  #replace(old: Cell, cell: Cell): Cell {
    old.store = undefined;
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
    return head === undefined ? undefined : this.#cellIn(head, item.scope, item.rule);
  }

  /** Sets the cell of an item's state (in the place of the one of its rule's name, if any). */
  #create(item: PlanItem, state: RuleState): Cell {
    const head = this.#headOf(item);
    const cell = this.#add(head, item.scope, item.rule, state);
    if (head === undefined) item.slot = cell;
    return cell;
  }

  /**
   * Sets the cell of `rule`'s state in the chain of `scope` whose first cell is `head` (`undefined`: none
   * yet), in the place of the one of its rule's name if any; returns it.
   */
  #add(head: Cell | undefined, scope: string, rule: CompiledRule, state: RuleState): Cell {
    const cell = cellFor(scope, rule, this, state);
    if (head === undefined) {
      this.#scopes.set(scope, cell);
      this.#sweeper.created++;
      this.#cellCount++;
      return cell;
    }
    for (let old: Cell | undefined = head; old !== undefined; old = old.next) {
      if (old.rule.name === rule.name) return this.#replace(old, cell);
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
      cell.store = undefined;
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
      if (cell?.correct(now, item.cost, item.at)) continue;
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
      // A state of another algorithm (the rule redefined under its name) is read as never used, as
      // deciding does (see cellFor).
      return cell?.rule.algorithm === item.rule.algorithm ? cell.state() : undefined;
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

  /** Deletes some idle states (see {@link Sweeper}) and the blocks that ended. */
  #sweep(now: number): void {
    this.#sweeper.step(now);
    for (const [scope, until] of this.#blocks) if (until + IDLE_GRACE_MS <= now) this.#blocks.delete(scope);
  }
}

/**
 * `rules.charged(scope)`, remembered by the scope's first cell while the rules stay the same (`rules.token`:
 * one object per rules object and version): a decision on a scope held here resolves no pattern.
 */
function chargedOf(head: Cell, scope: string, rules: ScopeRules): readonly CompiledRule[] {
  if (head.resolvedBy === rules.token) return head.charged;
  const charged = rules.charged(scope);
  head.resolvedBy = rules.token;
  head.charged = charged;
  return charged;
}
