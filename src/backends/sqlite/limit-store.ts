import type { Statement, Transaction } from 'better-sqlite3';
import { algorithms } from '../../algorithms/index.js';
import type { RuleState } from '../../algorithms/types.js';
import type { Decision, RuleStats } from '../../core/types.js';
import { chargeAll, describeStates, evaluate } from '../../limiter/evaluate.js';
import type { Plan, PlanItem } from '../../limiter/plan.js';
import type { LimitStore } from '../types.js';
import type { Connection } from './connection.js';

/** Operations between two sweeps of idle state rows. */
const SWEEP_EVERY = 1024;
/** State rows examined per sweep, plus twice the rows this process created since the last one. */
const SWEEP_BATCH = 256;

type DecideTxn = Transaction<(plan: Plan, now: number, charge: boolean) => Decision>;

/**
 * Limit state in SQLite tables (`rk_limit_state`, `rk_limit_block`). Every decision is one
 * `BEGIN IMMEDIATE` transaction: load the states and blocks of the plan, run the pure algorithms, write the
 * charged states. Processes sharing the file therefore never admit more than a rule allows.
 *
 * Disk stays bounded: every {@link SWEEP_EVERY} operations of this process, a few hundred state rows are
 * examined (resuming where the last sweep stopped) and the idle ones deleted, with every expired block.
 */
export class SqliteLimitStore implements LimitStore {
  readonly sync = true;
  readonly #conn: Connection;
  readonly #getState: Statement<[string], string | undefined>;
  readonly #putState: Statement<[string, string, string, number]>;
  readonly #getBlock: Statement<[string], number | undefined>;
  readonly #allBlocks: Statement<[], { scope: string; until: number }>;
  readonly #putBlock: Statement<[string, number]>;
  readonly #sweepKeys: Statement<[string, number], string>;
  readonly #deleteIdle: Statement<[string, string, number]>;
  readonly #deleteExpiredBlocks: Statement<[number]>;
  readonly #resetAll: Statement<[]>;
  readonly #resetBlocks: Statement<[]>;
  readonly #resetScope: Statement<[string, string, string]>;
  readonly #resetBlock: Statement<[string]>;
  readonly #decide: DecideTxn;
  readonly #decideMany: Transaction<(plans: readonly Plan[], now: number) => Decision[]>;
  readonly #adjust: Transaction<(items: readonly PlanItem[], now: number) => void>;
  readonly #block: Transaction<(scopes: readonly string[], until: number) => void>;
  readonly #inspect: Transaction<(plan: Plan, now: number) => RuleStats[]>;
  readonly #reset: Transaction<(scope?: string) => void>;
  #ops = 0;
  /** Rows created since the last sweep: each sweep examines more than that, so it keeps up. */
  #created = 0;
  /** Last key examined by the sweep ('' = start over). */
  #sweepFrom = '';

  constructor(conn: Connection) {
    this.#conn = conn;
    const db = conn.db;
    this.#getState = db.prepare<[string], string>('SELECT state FROM rk_limit_state WHERE key = ?').pluck();
    this.#putState = db.prepare(
      `INSERT INTO rk_limit_state (key, scope, state, idle_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET state = excluded.state, idle_at = excluded.idle_at`,
    );
    this.#getBlock = db.prepare<[string], number>('SELECT until FROM rk_limit_block WHERE scope = ?').pluck();
    this.#allBlocks = db.prepare('SELECT scope, until FROM rk_limit_block');
    this.#putBlock = db.prepare(
      `INSERT INTO rk_limit_block (scope, until) VALUES (?, ?)
       ON CONFLICT (scope) DO UPDATE SET until = max(until, excluded.until)`,
    );
    this.#sweepKeys = db
      .prepare<[string, number], string>('SELECT key FROM rk_limit_state WHERE key > ? ORDER BY key LIMIT ?')
      .pluck();
    this.#deleteIdle = db.prepare('DELETE FROM rk_limit_state WHERE key > ? AND key <= ? AND idle_at <= ?');
    this.#deleteExpiredBlocks = db.prepare('DELETE FROM rk_limit_block WHERE until <= ?');
    this.#resetAll = db.prepare('DELETE FROM rk_limit_state');
    this.#resetBlocks = db.prepare('DELETE FROM rk_limit_block');
    // Keys of a scope are `${scope}|${rule}`: the range ['scope|', 'scope}') holds them (and those of
    // scopes named 'scope|…', told apart by the scope column).
    this.#resetScope = db.prepare('DELETE FROM rk_limit_state WHERE key >= ? AND key < ? AND scope = ?');
    this.#resetBlock = db.prepare('DELETE FROM rk_limit_block WHERE scope = ?');

    this.#decide = db.transaction((plan: Plan, now: number, charge: boolean) =>
      this.#decideIn(plan, now, charge),
    );
    this.#decideMany = db.transaction((plans: readonly Plan[], now: number) => {
      const out: Decision[] = new Array(plans.length);
      for (let i = 0; i < plans.length; i++) out[i] = this.#decideIn(plans[i]!, now, true);
      return out;
    });
    this.#adjust = db.transaction((items: readonly PlanItem[], now: number) => {
      for (const item of items) {
        const state = this.#read(item.key);
        if (state === undefined) this.#created++;
        this.#store(item, algorithms[item.rule.algorithm].adjust(state, now, item.cost, item.rule));
      }
    });
    this.#block = db.transaction((scopes: readonly string[], until: number) => {
      for (const scope of scopes) this.#putBlock.run(scope, until);
    });
    this.#inspect = db.transaction((plan: Plan, now: number) => {
      const blocks = new Map<string, number>();
      for (const scope of plan.scopes) {
        const until = this.#getBlock.get(scope);
        if (until !== undefined) blocks.set(scope, until);
      }
      return describeStates(plan, this.#load(plan.items), blocks, now);
    });
    this.#reset = db.transaction((scope?: string) => {
      if (scope === undefined) {
        this.#resetAll.run();
        this.#resetBlocks.run();
        return;
      }
      this.#resetScope.run(`${scope}|`, `${scope}}`, scope);
      this.#resetBlock.run(scope);
    });
  }

  decide(plan: Plan, now: number): Decision {
    return this.#conn.run('decide', () => this.#decide.immediate(plan, now, true));
  }

  /** Decides several plans in one transaction, in order; each sees the charges of those before it. */
  decideMany(plans: readonly Plan[], now: number): Decision[] {
    if (plans.length === 0) return [];
    return this.#conn.run('decideMany', () => this.#decideMany.immediate(plans, now));
  }

  peek(plan: Plan, now: number): Decision {
    return this.#conn.run('peek', () => this.#decide.deferred(plan, now, false));
  }

  adjust(items: readonly PlanItem[], now: number): void {
    if (items.length === 0) return;
    this.#conn.run('adjust', () => this.#adjust.immediate(items, now));
  }

  block(scopes: readonly string[], until: number): void {
    if (scopes.length === 0) return;
    this.#conn.run('block', () => this.#block.immediate(scopes, until));
  }

  inspect(plan: Plan, now: number): RuleStats[] {
    return this.#conn.run('inspect', () => this.#inspect.deferred(plan, now));
  }

  reset(scope?: string): void {
    this.#conn.run('reset', () => this.#reset.immediate(scope));
  }

  /** Number of rule state rows stored (for tests of bounded disk use). */
  get size(): number {
    return this.#conn.run('size', () =>
      Number(this.#conn.db.prepare('SELECT count(*) FROM rk_limit_state').pluck().get()),
    );
  }

  /** Scopes blocked at `now`, with the end of each block. */
  blocks(now: number): Map<string, number> {
    return this.#conn.run('blocks', () => {
      const out = new Map<string, number>();
      for (const { scope, until } of this.#allBlocks.all()) if (until > now) out.set(scope, until);
      return out;
    });
  }

  /** One decision, inside the caller's transaction. */
  #decideIn(plan: Plan, now: number, charge: boolean): Decision {
    if (charge && ++this.#ops % SWEEP_EVERY === 0) this.#sweep(now);
    const items = plan.items;
    const states = this.#load(items);
    const decision = evaluate(plan, states, this.#blocksOf(plan.scopes), now);
    if (charge && decision.allowed && items.length > 0) {
      const charged = chargeAll(plan, states, now);
      for (let i = 0; i < items.length; i++) {
        if (states[i] === undefined) this.#created++;
        this.#store(items[i]!, charged[i]!);
      }
    }
    return decision;
  }

  #load(items: readonly PlanItem[]): Array<RuleState | undefined> {
    const states: Array<RuleState | undefined> = new Array(items.length);
    for (let i = 0; i < items.length; i++) states[i] = this.#read(items[i]!.key);
    return states;
  }

  #read(key: string): RuleState | undefined {
    const text = this.#getState.get(key);
    return text === undefined ? undefined : (JSON.parse(text) as RuleState);
  }

  #blocksOf(scopes: readonly string[]): number[] {
    const out: number[] = new Array(scopes.length);
    for (let i = 0; i < scopes.length; i++) out[i] = this.#getBlock.get(scopes[i]!) ?? 0;
    return out;
  }

  #store(item: PlanItem, state: RuleState): void {
    const idleAt = algorithms[item.rule.algorithm].idleAt(state, item.rule);
    this.#putState.run(item.key, item.scope, JSON.stringify(state), idleAt);
  }

  /**
   * Deletes the idle rows among the next `256 + 2 × created-since-last-sweep` keys, resuming where the
   * last sweep stopped, and every expired block. It examines rows faster than they are created, so the
   * table stays bounded by the keys live within about one pass, even when every request uses a new key.
   */
  #sweep(now: number): void {
    const budget = SWEEP_BATCH + 2 * this.#created;
    this.#created = 0;
    const keys = this.#sweepKeys.all(this.#sweepFrom, budget);
    if (keys.length > 0) this.#deleteIdle.run(this.#sweepFrom, keys[keys.length - 1]!, now);
    this.#sweepFrom = keys.length < budget ? '' : keys[keys.length - 1]!;
    this.#deleteExpiredBlocks.run(now);
  }
}
