import type { RuleState } from '../../algorithms/types.js';
import type { CompiledRule, Decision, RuleStats } from '../../core/types.js';
import { describeStates } from '../../engine/evaluate.js';
import type { Plan, PlanItem } from '../../engine/plan.js';
import { ALGORITHM_CODE } from '../algorithm-codes.js';
import type { LimitStore } from '../types.js';
import type { Connection } from './connection.js';
import { toBackendError, withTimeout } from './errors.js';
import type { LimitKeys } from './keys.js';
import { script } from './scripts.js';

type Arg = string | number;

/**
 * Decisions asked for together (one `decide`, or one `decideMany` that must stay in one script call).
 * A `decide` is resolved with its decision itself, a `decideMany` with the array.
 */
interface Pending {
  plans: readonly Plan[];
  now: number;
  one: boolean;
  // biome-ignore lint/suspicious/noExplicitAny: resolves a Promise<Decision> or a Promise<Decision[]> (see `one`)
  resolve(value: any): void;
  reject(error: unknown): void;
}

interface EncodedPlan {
  numbers: string;
  rules: CompiledRule[];
}

export interface RedisLimitStoreOptions {
  /** ms a key is kept past the moment its state becomes idle (absorbs clock skew between processes). */
  graceMs: number;
  /** Most requests sent in one script call. */
  maxBatch: number;
  /** ms to wait for an answer before treating Redis as unreachable. */
  timeoutMs: number;
}

/**
 * Limit state in Redis: every operation is one Lua script, one round trip. Decisions issued in the
 * same tick are coalesced into one `limit-decide` call that evaluates them in order, so N concurrent
 * decisions cost one round trip and keep exactly the semantics of N sequential ones.
 */
export class RedisLimitStore implements LimitStore {
  readonly sync = false;
  readonly #connection: Connection;
  readonly #keys: LimitKeys;
  readonly #options: RedisLimitStoreOptions;
  #pending: Pending[] = [];
  readonly #encoded = new WeakMap<Plan, EncodedPlan>();
  readonly #ruleIds = new WeakMap<CompiledRule, number>();
  #nextRuleId = 0;
  #scheduled = false;

  constructor(connection: Connection, keys: LimitKeys, options: RedisLimitStoreOptions) {
    this.#connection = connection;
    this.#keys = keys;
    this.#options = options;
  }

  decide(plan: Plan, now: number): Promise<Decision> {
    return new Promise<Decision>((resolve, reject) =>
      this.#queue({ plans: [plan], now, one: true, resolve, reject }),
    );
  }

  decideMany(plans: readonly Plan[], now: number): Promise<Decision[]> {
    if (plans.length === 0) return Promise.resolve([]);
    return new Promise<Decision[]>((resolve, reject) =>
      this.#queue({ plans, now, one: false, resolve, reject }),
    );
  }

  #queue(request: Pending): void {
    this.#pending.push(request);
    if (!this.#scheduled) {
      this.#scheduled = true;
      process.nextTick(this.#flush);
    }
  }

  /**
   * Reads (peek, inspect) run behind the decisions queued before them: those are sent on the next tick,
   * so a read waits for that tick and then goes right after them on the same connection. Redis runs them
   * in order, and the read sees their charges, as if each call had been sent at once.
   */
  #behindDecisions(): Promise<void> | undefined {
    if (!this.#scheduled) return undefined;
    return new Promise<void>((resolve) => process.nextTick(resolve));
  }

  async peek(plan: Plan, now: number): Promise<Decision> {
    const waiting = this.#behindDecisions();
    if (waiting) await waiting;
    const [decision] = await this.#run('limit-peek.v2', [{ plans: [plan], now }]);
    return decision!;
  }

  async adjust(items: readonly PlanItem[], now: number): Promise<void> {
    if (items.length === 0) return;
    const args: Arg[] = [this.#keys.base, this.#options.graceMs, now, items.length];
    for (const item of items) {
      const r = item.rule;
      args.push(
        item.scope,
        r.name,
        `${ALGORITHM_CODE[r.algorithm]},${r.limit},${r.windowMs},${r.capacity},${r.step},${item.cost}` +
          (item.at === undefined ? '' : `,${item.at}`),
      );
    }
    await this.#call('limit-adjust.v2', [this.#keys.blocks], args);
  }

  async block(scopes: readonly string[], until: number): Promise<void> {
    if (scopes.length === 0) return;
    await this.#call('limit-block.v2', [this.#keys.blocks], [this.#keys.base, until, ...scopes]);
  }

  async inspect(plan: Plan, now: number): Promise<RuleStats[]> {
    const waiting = this.#behindDecisions();
    if (waiting) await waiting;
    const args: Arg[] = [this.#keys.base, now, plan.scopes.length, ...plan.scopes];
    for (const item of plan.items) {
      const r = item.rule;
      args.push(item.scope, r.name, `${ALGORITHM_CODE[r.algorithm]},${r.windowMs},${r.step}`);
    }
    const reply = (await this.#call('limit-inspect.v2', [this.#keys.blocks], args)) as Array<string | null>;
    const blocks = new Map<string, number>();
    plan.scopes.forEach((scope, i) => {
      const until = Number(reply[i]);
      if (until > 0) blocks.set(scope, until);
    });
    const states = plan.items.map((_, i) => parseState(reply[plan.scopes.length + i]));
    return describeStates(plan, states, blocks, now);
  }

  async reset(scope?: string): Promise<void> {
    if (scope === undefined) {
      await this.#call('limit-reset.v2', [this.#keys.blocks], [this.#keys.base, 'all', this.#keys.pattern]);
    } else {
      await this.#call(
        'limit-reset.v2',
        [this.#keys.blocks, this.#keys.state(scope)],
        [this.#keys.base, 'scope', scope],
      );
    }
  }

  /**
   * Sends every decision queued this tick, in arrival order, about `maxBatch` per script call (the plans
   * of one `decideMany` are never split).
   */
  readonly #flush = (): void => {
    this.#scheduled = false;
    const pending = this.#pending;
    this.#pending = [];
    let batch: Pending[] = [];
    let size = 0;
    for (const request of pending) {
      if (size > 0 && size + request.plans.length > this.#options.maxBatch) {
        this.#send(batch);
        batch = [];
        size = 0;
      }
      batch.push(request);
      size += request.plans.length;
    }
    if (batch.length > 0) this.#send(batch);
  };

  #send(batch: Pending[]): void {
    this.#run('limit-decide.v2', batch).then(
      (decisions) => {
        let at = 0;
        for (const request of batch) {
          if (request.one) request.resolve(decisions[at]);
          else request.resolve(decisions.slice(at, at + request.plans.length));
          at += request.plans.length;
        }
      },
      (error: unknown) => {
        for (const request of batch) request.reject(error);
      },
    );
  }

  /**
   * Runs decide or peek over every plan of `requests`, in order, in one script call. Consecutive plans of
   * the same shape and time form one run: a header "count,shape,now" and then only their scopes. A pooled
   * plan (endpoint pool) is a run of its own, its choices in order; its answer carries the alternative chosen.
   */
  async #run(
    name: string,
    requests: ReadonlyArray<{ plans: readonly Plan[]; now: number }>,
  ): Promise<Decision[]> {
    const rules = new Set<CompiledRule>();
    const shapes = new Map<string, number>();
    const body: Arg[] = [];
    const plans: Plan[] = [];
    let runs = 0;
    let header = -1;
    let count = 0;
    let runShape = 0;
    let runNow = 0;
    const shapeOf = (plan: Plan): number => {
      const encoded = this.#encode(plan);
      let shape = shapes.get(encoded.numbers);
      if (shape === undefined) {
        shape = shapes.size + 1;
        shapes.set(encoded.numbers, shape);
        for (const rule of encoded.rules) rules.add(rule);
      }
      return shape;
    };
    for (const { plans: group, now } of requests) {
      for (const plan of group) {
        if (plan.choices !== undefined) {
          // An endpoint pool is a run of its own: "0,k,now", then each choice's shape, alternative, scopes.
          if (header >= 0) body[header] = `${count},${runShape},${runNow}`;
          header = -1;
          runs++;
          body.push(`0,${plan.choices.length},${now}`);
          for (const choice of plan.choices) {
            body.push(`${shapeOf(choice.plan)},${choice.alternative}`);
            for (const scope of choice.plan.scopes) body.push(scope);
          }
          plans.push(plan);
          continue;
        }
        const shape = shapeOf(plan);
        if (header < 0 || shape !== runShape || now !== runNow) {
          if (header >= 0) body[header] = `${count},${runShape},${runNow}`;
          header = body.length;
          body.push('');
          runs++;
          count = 0;
          runShape = shape;
          runNow = now;
        }
        count++;
        plans.push(plan);
        for (const scope of plan.scopes) body.push(scope);
      }
    }
    if (header >= 0) body[header] = `${count},${runShape},${runNow}`;
    const args: Arg[] = [this.#keys.base, this.#options.graceMs, rules.size];
    for (const rule of rules) args.push(this.#ruleArg(rule), rule.name);
    args.push(shapes.size);
    for (const numbers of shapes.keys()) args.push(numbers);
    args.push(runs);
    for (const arg of body) args.push(arg);
    const reply = (await this.#call(name, [this.#keys.blocks], args)) as Array<number | string>;
    const decisions = new Array<Decision>(plans.length);
    let at = 0;
    for (let i = 0; i < plans.length; i++) {
      let plan = plans[i]!;
      const code = reply[at] as number;
      const size = code >= 0 ? 2 : 4;
      let alternative: number | undefined;
      if (plan.choices !== undefined) {
        alternative = reply[at + size] as number;
        plan = plan.choices.find((c) => c.alternative === alternative)!.plan;
      }
      const decision = code >= 0 ? admitted(plan, code, reply[at + 1]) : refused(plan, code, reply, at);
      if (alternative !== undefined) decision.alternative = alternative;
      decisions[i] = decision;
      at += alternative === undefined ? size : size + 1;
    }
    return decisions;
  }

  /** A plan's packed numbers ("nScopes,nItems,(scopeIndex,ruleId,cost)*") and rules, cached per plan. */
  #encode(plan: Plan): EncodedPlan {
    let encoded = this.#encoded.get(plan);
    if (!encoded) {
      const rules: CompiledRule[] = [];
      let numbers = `${plan.scopes.length},${plan.items.length}`;
      for (const item of plan.items) {
        numbers += `,${plan.scopes.indexOf(item.scope) + 1},${this.#ruleId(item.rule)},${item.cost}`;
        if (!rules.includes(item.rule)) rules.push(item.rule);
      }
      encoded = { numbers, rules };
      this.#encoded.set(plan, encoded);
    }
    return encoded;
  }

  #ruleId(rule: CompiledRule): number {
    let id = this.#ruleIds.get(rule);
    if (id === undefined) {
      id = ++this.#nextRuleId;
      this.#ruleIds.set(rule, id);
    }
    return id;
  }

  #ruleArg(rule: CompiledRule): string {
    return `${this.#ruleId(rule)},${ALGORITHM_CODE[rule.algorithm]},${rule.limit},${rule.windowMs},${rule.capacity},${rule.step}`;
  }

  async #call(name: string, keys: string[], args: Arg[]): Promise<unknown> {
    try {
      const connecting = this.#connection.ready();
      if (connecting) await connecting;
      return await withTimeout(
        script(name).run(this.#connection.client, keys, args),
        this.#options.timeoutMs,
        name,
      );
    } catch (error) {
      throw toBackendError(error, name);
    }
  }
}

/** A reply number: an integer as is, anything else printed by Lua's %.17g (`inf`, `-inf` included). */
function num(value: number | string | null | undefined): number {
  if (typeof value === 'number') return value;
  if (value === 'inf') return Number.POSITIVE_INFINITY;
  if (value === '-inf') return Number.NEGATIVE_INFINITY;
  return Number(value);
}

/**
 * A state as returned by limit-inspect: the algorithm's numbers, comma-joined (a list-form sliding window:
 * its summary at the time asked, which has the log's remaining and idleAt then).
 */
function parseState(text: string | null | undefined): RuleState | undefined {
  if (text === null || text === undefined) return undefined;
  return text === '' ? [] : text.split(',').map(num);
}

/** An admitted decision: `tight` is the 1-based plan item with the least remaining share (0: none). */
function admitted(plan: Plan, tight: number, remaining: number | string | undefined): Decision {
  return {
    allowed: true,
    retryAfterMs: 0,
    remaining: num(remaining),
    limit: tight > 0 ? plan.items[tight - 1]!.rule.limit : Number.POSITIVE_INFINITY,
    blockedBy: null,
  };
}

/**
 * A refusal at `at` in the reply: -1 (an item), retryAfterMs, remaining, item index; or -2 (a block),
 * retryAfterMs, limit, scope index. Names the plan's rule or scope that refused it.
 */
function refused(plan: Plan, code: number, reply: ReadonlyArray<number | string>, at: number): Decision {
  const retryAfterMs = num(reply[at + 1]);
  const index = reply[at + 3] as number;
  if (code === -1) {
    const item = plan.items[index]!;
    return {
      allowed: false,
      retryAfterMs,
      remaining: num(reply[at + 2]),
      limit: item.rule.limit,
      blockedBy: { scope: item.scope, rule: item.rule.name, unit: item.rule.unit },
    };
  }
  return {
    allowed: false,
    retryAfterMs,
    remaining: 0,
    limit: num(reply[at + 2]),
    blockedBy: { scope: plan.scopes[index]!, rule: 'block', unit: 'requests' },
  };
}
