import { algorithms } from '../../algorithms/index.js';
import type { Algorithm, RuleState } from '../../algorithms/types.js';
import type { Decision, RuleStats } from '../../core/types.js';
import { describeStates, evaluate } from '../../limiter/evaluate.js';
import type { Plan, PlanItem } from '../../limiter/plan.js';
import type { LimitStore } from '../types.js';

interface Entry {
  /** Its key in the map (`${scope}|${rule}`), so that sweeps can walk the entries alone. */
  readonly key: string;
  /** The scope the state belongs to (keys cannot be split: scopes and rule names may contain `|`). */
  readonly scope: string;
  /** Owned by the store alone (never handed out), so decisions charge it in place. */
  state: number[];
  /** From this time the state equals "never used" and the entry may be deleted. */
  idleAt: number;
  readonly store: MemoryLimitStore;
  /** Whether the map holds it: a deleted entry may still sit in a {@link PlanItem.slot}. */
  live: boolean;
}

const NO_BLOCKS: readonly number[] = [];

/**
 * How long an idle entry is kept before a sweep deletes it. Keeping an idle state changes nothing (it equals
 * "never used"), and a key used every few ms whose state goes idle in between (a token bucket refilled at
 * once) would otherwise be deleted and created again on nearly every use.
 */
const IDLE_GRACE_MS = 1000;

/** A state `charge` or `adjust` just returned: a new array nobody else holds (see {@link Algorithm}). */
function owned(state: RuleState): number[] {
  return state as number[];
}

/**
 * Limit state in a `Map`, for one process. Synchronous, so every decision is trivially atomic.
 * Memory stays bounded: idle entries are swept a few at a time as operations run.
 */
export class MemoryLimitStore implements LimitStore {
  readonly sync = true;
  readonly #states = new Map<string, Entry>();
  readonly #blocks = new Map<string, number>();
  #ops = 0;
  /** Entries created since the last sweep: each sweep examines more than that, so it keeps up. */
  #created = 0;
  #sweeper: Iterator<Entry> | undefined;
  /**
   * Scratch arrays of `#decide`, reused because it is synchronous and never re-entered: the entries and
   * states of the plan being decided (positions past the plan's length are stale and never read).
   */
  readonly #entries: Array<Entry | undefined> = [];
  readonly #loaded: Array<RuleState | undefined> = [];

  /** Number of rule states held (for tests of bounded memory). */
  get size(): number {
    return this.#states.size;
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
    if ((++this.#ops & 1023) === 0) this.#sweep(now);
    const items = plan.items;
    const states = this.#loaded;
    const blocks = this.#blocks.size === 0 ? NO_BLOCKS : this.#blocksOf(plan);
    if (items.length === 1) return this.#decideOne(plan, items[0]!, blocks, now, charge);
    // The entries found are reused to store the charged states.
    const entries = this.#entries;
    for (let i = 0; i < items.length; i++) {
      const entry = this.#entryOf(items[i]!);
      entries[i] = entry;
      states[i] = entry?.state;
    }
    const decision = evaluate(plan, states, blocks, now);
    if (charge && decision.allowed) {
      for (let i = 0; i < items.length; i++) {
        const item = items[i]!;
        const algorithm = algorithms[item.rule.algorithm];
        const entry = entries[i];
        if (entry) {
          algorithm.chargeInPlace(entry.state, now, item.cost, item.rule);
          entry.idleAt = algorithm.idleAt(entry.state, item.rule);
        } else {
          this.#create(item, owned(algorithm.charge(undefined, now, item.cost, item.rule)));
        }
      }
    }
    return decision;
  }

  /** `#decide` of the most common plan: one scope with one rule (a function of its own, inlined on its own). */
  #decideOne(plan: Plan, item: PlanItem, blocks: readonly number[], now: number, charge: boolean): Decision {
    const entry = this.#entryOf(item);
    this.#loaded[0] = entry?.state;
    const decision = evaluate(plan, this.#loaded, blocks, now);
    if (charge && decision.allowed) {
      if (entry) {
        const algorithm = algorithms[item.rule.algorithm];
        algorithm.chargeInPlace(entry.state, now, item.cost, item.rule);
        entry.idleAt = algorithm.idleAt(entry.state, item.rule);
      } else {
        this.#create(
          item,
          owned(algorithms[item.rule.algorithm].charge(undefined, now, item.cost, item.rule)),
        );
      }
    }
    return decision;
  }

  /**
   * The entry of an item's state, if any: the one its slot remembers when that is still this store's entry
   * for the key, else from the map (and then remembered).
   */
  #entryOf(item: PlanItem): Entry | undefined {
    const known = item.slot as Entry | undefined;
    if (known?.live && known.store === this && known.key === item.key) return known;
    const entry = this.#states.get(item.key);
    if (entry !== undefined) item.slot = entry;
    return entry;
  }

  /** Adds the entry of an item's first state. */
  #create(item: PlanItem, state: number[]): void {
    const idleAt = algorithms[item.rule.algorithm].idleAt(state, item.rule);
    const entry: Entry = { key: item.key, scope: item.scope, state, idleAt, store: this, live: true };
    this.#states.set(item.key, entry);
    item.slot = entry;
    this.#created++;
  }

  /** Deletes an entry; a slot that still holds it sees it is gone, and no longer keeps its state alive. */
  #delete(entry: Entry): void {
    entry.live = false;
    entry.state = [];
    this.#states.delete(entry.key);
  }

  adjust(items: readonly PlanItem[], now: number): void {
    for (const item of items) {
      const algorithm = algorithms[item.rule.algorithm];
      this.#store(item, algorithm.adjust(this.#entryOf(item)?.state, now, item.cost, item.rule));
    }
  }

  block(scopes: readonly string[], until: number): void {
    for (const scope of scopes) {
      if ((this.#blocks.get(scope) ?? 0) < until) this.#blocks.set(scope, until);
    }
  }

  inspect(plan: Plan, now: number): RuleStats[] {
    const states = plan.items.map((item) => this.#states.get(item.key)?.state);
    return describeStates(plan, states, this.#blocks, now);
  }

  reset(scope?: string): void {
    if (scope === undefined) {
      for (const entry of this.#states.values()) entry.live = false;
      this.#states.clear();
      this.#blocks.clear();
      return;
    }
    this.#blocks.delete(scope);
    for (const entry of this.#states.values()) if (entry.scope === scope) this.#delete(entry);
  }

  #store(item: PlanItem, result: RuleState): void {
    const state = owned(result);
    const entry = this.#entryOf(item);
    if (entry) {
      entry.state = state;
      entry.idleAt = algorithms[item.rule.algorithm].idleAt(state, item.rule);
    } else {
      this.#create(item, state);
    }
  }

  #blocksOf(plan: Plan): number[] {
    return plan.scopes.map((scope) => this.#blocks.get(scope) ?? 0);
  }

  /**
   * Deletes idle entries among the next `256 + 2 × created-since-last-sweep` ones, resuming where the last
   * sweep stopped: it examines entries faster than they are created, so it keeps finishing passes and the
   * map stays bounded by the keys live within about one pass, even when every request uses a new key.
   */
  #sweep(now: number): void {
    const budget = 256 + 2 * this.#created;
    this.#created = 0;
    this.#sweeper ??= this.#states.values();
    for (let i = 0; i < budget; i++) {
      const next = this.#sweeper.next();
      if (next.done) {
        this.#sweeper = undefined;
        break;
      }
      if (next.value.idleAt + IDLE_GRACE_MS <= now) this.#delete(next.value);
    }
    for (const [scope, until] of this.#blocks) if (until <= now) this.#blocks.delete(scope);
  }
}
