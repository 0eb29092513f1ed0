import type { Statement } from 'better-sqlite3';
import { algorithms } from '../../algorithms/index.js';
import type { RuleState } from '../../algorithms/types.js';
import type { Decision, RuleStats } from '../../core/types.js';
import { decideChoices } from '../../engine/choices.js';
import { chargeAll, describeStates, evaluate } from '../../engine/evaluate.js';
import type { Plan, PlanItem } from '../../engine/plan.js';
import type { LimitStore } from '../types.js';
import type { Connection } from './connection.js';
import { type KnownRow, KnownRows } from './known-rows.js';
import { decodeState, EMPTY_STATE, encodeState } from './state-codec.js';

/** Operations between two sweeps of idle state rows. */
const SWEEP_EVERY = 1024;
/** State rows examined per sweep, plus twice the rows this process created since the last one. */
const SWEEP_BATCH = 256;

const NO_BLOCKS: readonly number[] = [0];

/**
 * How long an idle state row (or an ended block) is kept before a sweep deletes it: a process whose clock lags
 * by less than this sees it exactly (see src/engine/README.md, clock skew).
 */
const IDLE_GRACE_MS = 1000;

/** Makes the SQL function names of each store unique, so two stores on one database never mix. */
let stores = 0;

/**
 * Limit state in SQLite tables (`rk_limit_state`, `rk_limit_block`). Every decision is atomic under the
 * write lock: one `BEGIN IMMEDIATE` transaction that loads the states and blocks of the plan, runs the pure
 * algorithms (`evaluate`, `chargeAll`) and writes the charged states; a single-rule decision is one UPDATE:
 * on a row this process saw last, decided in JS and written only if the row is unchanged ({@link KnownRow});
 * else one whose WHERE runs the algorithm (see the constructor). `decideMany` decides many plans in one transaction,
 * which `RateLimiter#tryAcquire` uses for the calls of one tick (`groupCommit`). Processes sharing the file
 * therefore never admit more than a rule allows. A state BLOB records the algorithm that wrote it
 * (state-codec.ts): a rule that changed its algorithm under the same name reads it as never used.
 *
 * Disk stays bounded: every 1,024 decisions of this process, the next few hundred state rows are examined
 * (resuming where the last sweep stopped, more when many rows were created) and the idle ones deleted,
 * with every expired block.
 */
export class SqliteLimitStore implements LimitStore {
  readonly sync = true;
  readonly groupCommit = true;
  readonly #conn: Connection;
  readonly #getState: Statement<[string], Buffer | undefined>;
  /** State of one key and block of one scope in one statement: the common single-rule peek. */
  readonly #getOne: Statement<[string, string], [Buffer | null, number | null]>;
  /** The whole single-rule decision as one UPDATE of an existing row (see the constructor). */
  readonly #updateOne: Statement<[string]>;
  /** The same as one UPSERT, for a key that may have no row yet. */
  readonly #upsertOne: Statement<[string, string, string]>;
  /** A decision computed from a {@link KnownRow}, written only if the row still holds it. */
  readonly #casOne: Statement<[Buffer, number, string, Buffer, number]>;
  readonly #known = new KnownRows();
  readonly #putState: Statement<[string, string, Buffer, number, string]>;
  readonly #blockRows: Statement<[number, string, string, string]>;
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
  readonly #count: Statement<[], number>;
  #ops = 0;
  /** Rows created since the last sweep: each sweep examines more than that, so it keeps up. */
  #created = 0;
  /** Last key examined by the sweep ('' = start over). */
  #sweepFrom = '';
  // The decision in progress in #decideOne: set before it runs, read by its SQL functions.
  #plan: Plan | undefined;
  #now = 0;
  #decision: Decision | undefined;
  #charged: Buffer = EMPTY_STATE;
  /** The charged state whose encoding is `#charged`. */
  #last: RuleState | undefined;
  #idleAt = 0;
  #existed = false;
  /** The row the last `step` or `fresh` saw: its BLOB, decoded state and block copy. */
  #seen: KnownRow = { blob: EMPTY_STATE, state: undefined, until: 0, algorithm: 'sliding-window' };

  constructor(conn: Connection) {
    this.#conn = conn;
    const db = conn.db;
    this.#getState = db.prepare<[string], Buffer>('SELECT state FROM rk_limit_state WHERE key = ?').pluck();
    this.#getOne = db
      .prepare<[string, string], [Buffer | null, number | null]>(
        `SELECT (SELECT state FROM rk_limit_state WHERE key = ?),
                (SELECT until FROM rk_limit_block WHERE scope = ?)`,
      )
      .raw();
    this.#putState = db.prepare(
      `INSERT INTO rk_limit_state (key, scope, state, idle_at, blocked_until)
       VALUES (?, ?, ?, ?, coalesce((SELECT until FROM rk_limit_block WHERE scope = ?), 0))
       ON CONFLICT (key) DO UPDATE SET state = excluded.state, idle_at = excluded.idle_at`,
    );
    this.#blockRows = db.prepare(
      `UPDATE rk_limit_state SET blocked_until = max(blocked_until, ?)
       WHERE key >= ? AND key < ? AND scope = ?`,
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
    this.#count = db.prepare<[], number>('SELECT count(*) FROM rk_limit_state').pluck();

    // A single-rule decision is one statement: a write statement takes the write lock before it reads, so
    // it is as atomic as a BEGIN IMMEDIATE transaction, with a quarter of the statements. The algorithms
    // run in JavaScript through SQL functions: `step` decides against the stored state of an existing row
    // (the update is skipped when refused), `fresh` for a key without a row (an UPSERT's VALUES are computed
    // first, always); `charged` and `idle` hand back what the last of them computed. The UPDATE is tried
    // first (a used key has a row, which carries its scope's block); when it found no row, the UPSERT
    // decides, copying the block from rk_limit_block into the new row.
    const n = ++stores;
    const fn = (name: string) => `rk_${name}_${n}`;
    db.function(fn('fresh'), (until: number | null) => {
      this.#existed = false;
      const { algorithm } = this.#plan!.items[0]!.rule;
      this.#seen = { blob: EMPTY_STATE, state: undefined, until: until ?? 0, algorithm };
      return this.#step(undefined, until) ? this.#charged : EMPTY_STATE;
    });
    db.function(fn('step'), (state: Buffer, until: number | null) => {
      this.#existed = true;
      const { rule } = this.#plan!.items[0]!;
      const decoded = decodeState(state, rule, this.#now);
      this.#seen = { blob: state, state: decoded, until: until ?? 0, algorithm: rule.algorithm };
      return this.#step(decoded, until) ? 1 : 0;
    });
    db.function(fn('charged'), () => this.#charged);
    db.function(fn('idle'), () => this.#idleAt);
    const block = 'SELECT until FROM rk_limit_block WHERE scope = ?';
    this.#updateOne = db.prepare(
      `UPDATE rk_limit_state SET state = ${fn('charged')}(), idle_at = ${fn('idle')}()
       WHERE key = ? AND ${fn('step')}(state, blocked_until)`,
    );
    this.#upsertOne = db.prepare(
      `INSERT INTO rk_limit_state (key, scope, state, idle_at, blocked_until)
       SELECT ?, ?, ${fn('fresh')}(b.until), ${fn('idle')}(), coalesce(b.until, 0)
       FROM (SELECT (${block}) AS until) AS b WHERE true
       ON CONFLICT (key) DO UPDATE SET state = ${fn('charged')}(), idle_at = ${fn('idle')}()
         WHERE ${fn('step')}(rk_limit_state.state, rk_limit_state.blocked_until)`,
    );
    this.#casOne = db.prepare(
      'UPDATE rk_limit_state SET state = ?, idle_at = ? WHERE key = ? AND state = ? AND blocked_until = ?',
    );
  }

  decide(plan: Plan, now: number): Decision {
    if (plan.items.length !== 1 || plan.scopes.length !== 1 || plan.choices !== undefined) {
      return this.#conn.write('decide', () => this.#decide(plan, now, true));
    }
    if (++this.#ops % SWEEP_EVERY === 0) this.#conn.write('sweep', () => this.#sweep(now));
    const item = plan.items[0]!;
    const known = this.#known.get(item.key);
    try {
      this.#conn.assertOpen();
      if (known !== undefined) {
        const decision = this.#decideKnown(plan, item, known, now);
        if (decision !== undefined) return decision;
      }
      return this.#decideRow(plan, item, now);
    } catch (error) {
      throw this.#conn.translate(error, 'decide');
    }
  }

  /**
   * The decision on a row as this process last saw it, when it admits and the row still holds it (one
   * UPDATE, no SQL function); `undefined` to decide against the row (refused here, or the row changed).
   */
  #decideKnown(plan: Plan, item: PlanItem, known: KnownRow, now: number): Decision | undefined {
    // Decoded for another algorithm (the rule was redefined): the row is read again, for this one.
    if (known.algorithm !== item.rule.algorithm) return undefined;
    const decision = evaluate(plan, [known.state], known.until === 0 ? NO_BLOCKS : [known.until], now);
    // A refusal is confirmed against the row: it may have been refunded or reset since.
    if (!decision.allowed) return undefined;
    const algorithm = algorithms[item.rule.algorithm];
    const charged = algorithm.charge(known.state, now, item.cost, item.rule);
    const blob = encodeState(charged, item.rule);
    const idleAt = algorithm.idleAt(charged, item.rule);
    if (this.#casOne.run(blob, idleAt, item.key, known.blob, known.until).changes !== 1) return undefined;
    this.#known.update(known, blob, charged);
    return decision;
  }

  /** The decision against the row itself (see the constructor); remembers the row as it leaves it. */
  #decideRow(plan: Plan, item: PlanItem, now: number): Decision {
    const scope = plan.scopes[0]!;
    this.#plan = plan;
    this.#now = now;
    this.#decision = undefined;
    this.#existed = false;
    try {
      this.#updateOne.run(item.key);
      if (!this.#existed) this.#upsertOne.run(item.key, scope, scope);
    } finally {
      this.#plan = undefined;
    }
    const decision = this.#decision!;
    if (decision.allowed && !this.#existed) this.#created++;
    // The row as it is now: what was written when admitted (a pool slice, copied), else what was read
    // (SQLite's copy for the function call, in memory of its own).
    const seen = this.#seen;
    if (decision.allowed) {
      seen.blob = this.#charged;
      seen.state = this.#last;
    }
    this.#known.set(item.key, seen, !decision.allowed);
    return decision;
  }

  /** Decides the single-item plan in progress against `state`; when allowed, prepares the charged state. */
  #step(state: RuleState | undefined, until: number | null): boolean {
    const plan = this.#plan!;
    const now = this.#now;
    const decision = evaluate(plan, [state], until === null ? NO_BLOCKS : [until], now);
    this.#decision = decision;
    if (!decision.allowed) {
      this.#charged = EMPTY_STATE;
      this.#idleAt = Number.NEGATIVE_INFINITY;
      return false;
    }
    const item = plan.items[0]!;
    const charged = algorithms[item.rule.algorithm].charge(state, now, item.cost, item.rule);
    this.#last = charged;
    this.#charged = encodeState(charged, item.rule);
    this.#idleAt = algorithms[item.rule.algorithm].idleAt(charged, item.rule);
    return true;
  }

  /** Decides several plans in one transaction, in order; each sees the charges of those before it. */
  decideMany(plans: readonly Plan[], now: number): Decision[] {
    if (plans.length === 0) return [];
    return this.#conn.write('decideMany', () => plans.map((plan) => this.#decide(plan, now, true)));
  }

  peek(plan: Plan, now: number): Decision {
    return this.#conn.read('peek', () => this.#decide(plan, now, false));
  }

  adjust(items: readonly PlanItem[], now: number): void {
    if (items.length === 0) return;
    this.#conn.write('adjust', () => {
      for (const item of items) {
        const state = this.#read(item, now);
        if (state === undefined) this.#created++;
        this.#store(item, algorithms[item.rule.algorithm].adjust(state, now, item.cost, item.rule, item.at));
      }
    });
  }

  block(scopes: readonly string[], until: number): void {
    if (scopes.length === 0) return;
    this.#conn.write('block', () => {
      for (const scope of scopes) {
        this.#putBlock.run(scope, until);
        this.#blockRows.run(until, `${scope}|`, `${scope}}`, scope);
      }
    });
  }

  inspect(plan: Plan, now: number): RuleStats[] {
    const item = plan.items.length === 1 && plan.scopes.length === 1 ? plan.items[0]! : undefined;
    if (item !== undefined && item.scope === plan.scopes[0]) {
      // One rule of one scope (a manager's quota read, once per offer): its state and its scope's block in
      // one statement, which is a consistent snapshot without a transaction.
      const [state, until] = this.#conn.run('inspect', () => this.#getOne.get(item.key, item.scope)!);
      const blocks = new Map<string, number>();
      if (until !== null) blocks.set(item.scope, until);
      return describeStates(plan, [decodeState(state, item.rule, now)], blocks, now);
    }
    return this.#conn.read('inspect', () => {
      const blocks = new Map<string, number>();
      for (const scope of plan.scopes) {
        const until = this.#getBlock.get(scope);
        if (until !== undefined) blocks.set(scope, until);
      }
      return describeStates(plan, this.#load(plan.items, now), blocks, now);
    });
  }

  reset(scope?: string): void {
    this.#conn.write('reset', () => {
      if (scope === undefined) {
        this.#resetAll.run();
        this.#resetBlocks.run();
        return;
      }
      this.#resetScope.run(`${scope}|`, `${scope}}`, scope);
      this.#resetBlock.run(scope);
    });
  }

  /** Rows remembered for the single-rule path (for tests of bounded memory). */
  get rememberedRows(): number {
    return this.#known.size;
  }

  /** Number of rule state rows stored (for tests of bounded disk use). */
  get size(): number {
    return this.#conn.run('size', () => this.#count.get()!);
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
  #decide(plan: Plan, now: number, charge: boolean): Decision {
    // An endpoint pool: its choices in order, all in the caller's one transaction.
    if (plan.choices !== undefined) return decideChoices(plan.choices, (p) => this.#decide(p, now, charge));
    if (charge && ++this.#ops % SWEEP_EVERY === 0) this.#sweep(now);
    const items = plan.items;
    let states: Array<RuleState | undefined>;
    let blocks: readonly number[];
    if (items.length === 1 && plan.scopes.length === 1) {
      const [blob, until] = this.#getOne.get(items[0]!.key, plan.scopes[0]!)!;
      states = [decodeState(blob, items[0]!.rule, now)];
      blocks = until === null ? NO_BLOCKS : [until];
    } else {
      states = this.#load(items, now);
      blocks = this.#blocksOf(plan.scopes);
    }
    const decision = evaluate(plan, states, blocks, now);
    if (charge && decision.allowed && items.length > 0) {
      const charged = chargeAll(plan, states, now);
      for (let i = 0; i < items.length; i++) {
        if (states[i] === undefined) this.#created++;
        this.#store(items[i]!, charged[i]!);
      }
    }
    return decision;
  }

  #load(items: readonly PlanItem[], now: number): Array<RuleState | undefined> {
    const states: Array<RuleState | undefined> = new Array(items.length);
    for (let i = 0; i < items.length; i++) states[i] = this.#read(items[i]!, now);
    return states;
  }

  /** The state of an item's rule (`undefined`: never used, or written by another algorithm). */
  #read(item: PlanItem, now: number): RuleState | undefined {
    return decodeState(this.#getState.get(item.key), item.rule, now);
  }

  #blocksOf(scopes: readonly string[]): number[] {
    const out: number[] = new Array(scopes.length);
    for (let i = 0; i < scopes.length; i++) out[i] = this.#getBlock.get(scopes[i]!) ?? 0;
    return out;
  }

  #store(item: PlanItem, state: RuleState): void {
    const idleAt = algorithms[item.rule.algorithm].idleAt(state, item.rule);
    this.#putState.run(item.key, item.scope, encodeState(state, item.rule), idleAt, item.scope);
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
    const before = now - IDLE_GRACE_MS;
    if (keys.length > 0) this.#deleteIdle.run(this.#sweepFrom, keys[keys.length - 1]!, before);
    this.#sweepFrom = keys.length < budget ? '' : keys[keys.length - 1]!;
    this.#deleteExpiredBlocks.run(before);
  }
}
