// Past 400 lines on purpose: the command generators, their replay on a store and the comparison are one
// suite whose parts only make sense together.
/**
 * The model-based queue suite: random command sequences (fast-check) replayed on a real store and on
 * {@link ReferenceQueue}, every answer compared. Commands: add (queued or leased), record, hasClaimable,
 * claim, complete, completeMessages, splitMessages, release, bury, extend, recover, holdLane, getRecord, stats,
 * deadLetters, replay, purge, prune — with owners that hold the lease, other owners and stale ones, and a
 * clock that sometimes steps back.
 *
 * Job ids are opaque: the suite maps each store's ids to the reference's by the order jobs are created.
 */
import fc from 'fast-check';
import { expect, it } from 'vitest';
import type {
  DeadLetterFilter,
  Job,
  JobInput,
  LeaseRef,
  Priority,
  QueueStore,
} from '../../src/backends/types.js';
import { ReferenceQueue } from './queue-reference.js';

const priority = fc.constantFrom<Priority>('critical', 'normal', 'optional');
const lane = fc.constantFrom('', 'a', 'b');
const messageId = fc.integer({ min: 1, max: 14 }).map((n) => `m${n}`);
/** A job by creation order (`1`, `2`, …), or `#k`: the k-th most recently leased job. */
const jobRef = fc.oneof(
  fc.integer({ min: 1, max: 10 }).map(String),
  fc.integer({ min: 0, max: 3 }).map((k) => `#${k}`),
);
/** Claims lease under one of two owners, a leased add under 'o1'; commands name the job's owner (`@`), another or a stale one. */
const claimOwner = fc.constantFrom('o2', 'o3');
const anyOwner = fc.constantFrom('@', '@', '@', '@', 'o1', 'o2', 'stale');
const payload = fc.oneof(
  fc.integer(),
  fc.string({ maxLength: 5 }),
  fc.record({ n: fc.integer(), s: fc.constant([]) }),
);

const jobInput: fc.Arbitrary<JobInput<unknown>> = fc.record({
  priority,
  lane,
  scopes: fc.constantFrom([], ['chat:1'], ['chat:1', 'global']),
  costs: fc.option(fc.constantFrom<Record<string, number>>({ 'chat:1': 2 }, { 'chat:1': 1, global: 3 }), {
    nil: undefined,
  }),
  messages: fc.uniqueArray(fc.record({ id: messageId, payload }), {
    minLength: 1,
    maxLength: 3,
    selector: (m) => m.id,
  }),
});

const filter: fc.Arbitrary<DeadLetterFilter> = fc.oneof(
  { weight: 3, arbitrary: fc.constant({}) },
  {
    weight: 4,
    arbitrary: fc.record(
      {
        jobIds: fc.array(jobRef, { maxLength: 4 }),
        messageIds: fc.array(messageId, { maxLength: 4 }),
        priority,
        lane,
        failedBefore: fc.integer({ min: 0, max: 800 }),
      },
      { requiredKeys: [] },
    ),
  },
);

type Op =
  | { op: 'add'; jobs: JobInput<unknown>[]; lease: boolean }
  | { op: 'record'; ids: string[]; status: 'dropped' | 'dropped-batch-too-large'; priority: Priority }
  | { op: 'hasClaimable'; priority: Priority }
  | { op: 'claim'; maxJobs: number; remaining: number; reserve: number; lease: number; owner: string }
  | { op: 'complete'; ids: string[]; owner: string }
  | { op: 'completeMessages'; id: string; owner: string; mids: string[] }
  /** `take`: positions in the job's messages when it was leased (resolved to `mids` before it runs). */
  | { op: 'splitMessages'; id: string; owner: string; take: number[]; mids?: string[] }
  | { op: 'release'; id: string; delay: number; failed: boolean; attempt: boolean; owner: string }
  | { op: 'bury'; id: string; owner: string }
  | { op: 'extend'; ids: string[]; owner: string; until: number }
  | { op: 'recover' }
  | { op: 'holdLane'; lane: string; ms: number }
  | { op: 'getRecord'; id: string }
  | { op: 'stats' }
  | { op: 'deadLetters'; filter: DeadLetterFilter; limit: number }
  | { op: 'replay'; filter: DeadLetterFilter }
  | { op: 'purge'; filter: DeadLetterFilter }
  | { op: 'prune'; back: number };

const rec = fc.record;
const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 5,
    arbitrary: rec({
      op: fc.constant('add' as const),
      jobs: fc.array(jobInput, { minLength: 1, maxLength: 3 }),
      lease: fc.integer({ min: 0, max: 3 }).map((n) => n === 0),
    }),
  },
  {
    weight: 1,
    arbitrary: rec({
      op: fc.constant('record' as const),
      ids: fc.array(messageId, { maxLength: 2 }),
      status: fc.constantFrom('dropped' as const, 'dropped-batch-too-large' as const),
      priority,
    }),
  },
  { weight: 1, arbitrary: rec({ op: fc.constant('hasClaimable' as const), priority }) },
  {
    weight: 4,
    arbitrary: rec({
      op: fc.constant('claim' as const),
      maxJobs: fc.integer({ min: 0, max: 4 }),
      remaining: fc.integer({ min: 0, max: 8 }),
      reserve: fc.integer({ min: 0, max: 3 }),
      lease: fc.integer({ min: 1, max: 60 }),
      owner: claimOwner,
    }),
  },
  {
    weight: 3,
    arbitrary: rec({
      op: fc.constant('complete' as const),
      ids: fc.array(jobRef, { maxLength: 3 }),
      owner: anyOwner,
    }),
  },
  {
    weight: 2,
    // Some of these are splits, derived (not drawn) so that the fixed seed's sequences stay what they
    // were: a completeMessages naming two or three ids splits instead, of one of the last two jobs leased
    // (the second id's number tells which), the message at the position the first id's number gives.
    arbitrary: rec({
      op: fc.constant('completeMessages' as const),
      id: jobRef,
      owner: anyOwner,
      mids: fc.array(messageId, { maxLength: 3 }),
    }).map(
      (r): Op =>
        r.mids.length >= 2
          ? {
              op: 'splitMessages',
              id: `#${Number(r.mids[1]!.slice(1)) % 2}`,
              owner: r.owner,
              take: [Number(r.mids[0]!.slice(1)) % 3],
            }
          : r,
    ),
  },
  {
    weight: 3,
    // `attempt` is derived (not drawn) so that the fixed seed's sequences stay what they were.
    arbitrary: rec({
      op: fc.constant('release' as const),
      id: jobRef,
      delay: fc.integer({ min: 0, max: 30 }),
      failed: fc.boolean(),
      owner: anyOwner,
    }).map((r) => ({ ...r, attempt: r.delay % 3 !== 0 })),
  },
  { weight: 4, arbitrary: rec({ op: fc.constant('bury' as const), id: jobRef, owner: anyOwner }) },
  {
    weight: 1,
    arbitrary: rec({
      op: fc.constant('extend' as const),
      ids: fc.array(jobRef, { maxLength: 3 }),
      owner: anyOwner,
      until: fc.integer({ min: 0, max: 400 }),
    }),
  },
  { weight: 1, arbitrary: rec({ op: fc.constant('recover' as const) }) },
  {
    weight: 2,
    arbitrary: rec({ op: fc.constant('holdLane' as const), lane, ms: fc.integer({ min: 0, max: 40 }) }),
  },
  { weight: 1, arbitrary: rec({ op: fc.constant('getRecord' as const), id: messageId }) },
  { weight: 1, arbitrary: rec({ op: fc.constant('stats' as const) }) },
  {
    weight: 3,
    arbitrary: rec({
      op: fc.constant('deadLetters' as const),
      filter,
      limit: fc.integer({ min: 0, max: 6 }),
    }),
  },
  { weight: 1, arbitrary: rec({ op: fc.constant('replay' as const), filter }) },
  { weight: 1, arbitrary: rec({ op: fc.constant('purge' as const), filter }) },
  { weight: 1, arbitrary: rec({ op: fc.constant('prune' as const), back: fc.integer({ min: 0, max: 50 }) }) },
);

/** Job ids of one store mapped to the reference's (creation order) and back. */
class IdMap {
  readonly toRef = new Map<string, string>();
  readonly toStore = new Map<string, string>();
  learn(storeId: string, refId: string): void {
    this.toRef.set(storeId, refId);
    this.toStore.set(refId, storeId);
  }
  store(refId: string): string {
    return this.toStore.get(refId) ?? `no-such-job-${refId}`;
  }
  ref(storeId: string): string {
    const known = this.toRef.get(storeId);
    if (known !== undefined) return known;
    return storeId.startsWith('no-such-job-') ? storeId.slice('no-such-job-'.length) : `unknown:${storeId}`;
  }
}

/** Resolves `#k` and `@` against the leases seen so far (reference ids). */
function resolve(o: Op, recent: ReadonlyArray<{ id: string; owner: string }>): Op {
  let owner: string | undefined;
  const out = JSON.parse(JSON.stringify(o), (_key, value: unknown) => {
    if (typeof value !== 'string' || !/^#\d$/.test(value)) return value;
    const lease = recent[Number(value.slice(1))];
    owner ??= lease?.owner;
    return lease?.id ?? '99';
  }) as Op & { owner?: string };
  if (out.owner === '@') out.owner = owner ?? 'o2';
  return out;
}

/** The op with every job id turned into the store's. */
function forStore(o: Op, ids: IdMap): Op {
  const f = (x: DeadLetterFilter): DeadLetterFilter =>
    x.jobIds ? { ...x, jobIds: x.jobIds.map((id) => ids.store(id)) } : x;
  switch (o.op) {
    case 'complete':
    case 'extend':
      return { ...o, ids: o.ids.map((id) => ids.store(id)) };
    case 'completeMessages':
    case 'splitMessages':
    case 'release':
    case 'bury':
      return { ...o, id: ids.store(o.id) };
    case 'deadLetters':
    case 'replay':
    case 'purge':
      return { ...o, filter: f(o.filter) };
    default:
      return o;
  }
}

async function apply(store: QueueStore<unknown>, o: Op, now: number): Promise<unknown> {
  try {
    switch (o.op) {
      case 'add':
        return await store.add(o.jobs, now, o.lease ? { owner: 'o1', until: now + 20 } : undefined);
      case 'record':
        return await store.record(o.ids, o.status, o.priority, now, 'why');
      case 'hasClaimable':
        return await store.hasClaimable(o.priority, now);
      case 'claim':
        return await store.claim({
          now,
          owner: o.owner,
          leaseUntil: now + o.lease,
          maxJobs: o.maxJobs,
          remaining: o.remaining,
          reserve: o.reserve,
        });
      case 'complete':
        return await store.complete(
          o.ids.map((jobId) => ({ jobId, owner: o.owner })),
          now,
        );
      case 'completeMessages':
        return await store.completeMessages({ jobId: o.id, owner: o.owner }, o.mids, now);
      case 'splitMessages':
        return await store.splitMessages({ jobId: o.id, owner: o.owner }, o.mids ?? []);
      case 'release':
        return await store.release({ jobId: o.id, owner: o.owner }, now, {
          notBefore: now + o.delay,
          failed: o.failed,
          attempt: o.attempt,
          error: 'e',
        });
      case 'bury':
        return await store.bury({ jobId: o.id, owner: o.owner }, now, 'dead');
      case 'extend':
        return await store.extend(
          o.ids.map((jobId) => ({ jobId, owner: o.owner })),
          o.until,
        );
      case 'recover':
        return await store.recover(now);
      case 'holdLane':
        return await store.holdLane(o.lane, now + o.ms);
      case 'getRecord':
        return await store.getRecord(o.id);
      case 'stats':
        return await store.stats(now);
      case 'deadLetters':
        return await store.deadLetters(o.filter, o.limit);
      case 'replay':
        return await store.replay(o.filter, now);
      case 'purge':
        return await store.purge(o.filter);
      case 'prune':
        return await store.prune(now - o.back, now);
    }
  } catch (error) {
    return { threw: (error as Error).constructor.name };
  }
}

/** A store's answer with its job ids turned into the reference's. */
function normalize(o: Op, answer: unknown, ids: IdMap, refAnswer: unknown): unknown {
  if (o.op === 'add' && Array.isArray(answer) && Array.isArray(refAnswer)) {
    answer.forEach((job: Job, i) => {
      ids.learn(job.id, (refAnswer[i] as Job).id);
    });
  }
  if (o.op === 'splitMessages' && typeof answer === 'string' && typeof refAnswer === 'string') {
    // A new job (the part split off) is learned; the job's own id maps as before.
    if (!ids.toRef.has(answer)) ids.learn(answer, refAnswer);
    return ids.ref(answer);
  }
  if (o.op === 'extend' && Array.isArray(answer)) {
    return answer.map((lease: LeaseRef) => ({ jobId: ids.ref(lease.jobId), owner: lease.owner }));
  }
  if ((o.op === 'add' || o.op === 'claim' || o.op === 'deadLetters') && Array.isArray(answer)) {
    return answer.map((job: Job) => ({ ...job, id: ids.ref(job.id) }));
  }
  return answer;
}

export interface ModelSuiteOptions {
  runs?: number;
  /** Most commands per sequence. @default 80 */
  maxCommands?: number;
}

/**
 * Registers the model-based test for one backend. `make` returns a fresh, empty queue store and a way to
 * dispose of it.
 */
export function describeQueueModel(
  name: string,
  make: () => Promise<{ queue: QueueStore<unknown>; dispose(): Promise<void> }>,
  options: ModelSuiteOptions = {},
): void {
  it(`${name}: every random command sequence answers exactly like the reference model`, async () => {
    const hits: Record<string, number> = {};
    await fc.assert(
      fc.asyncProperty(
        // Time mostly moves on, and sometimes steps back (a clock set back, another process's clock).
        fc.array(fc.tuple(op, fc.oneof(fc.integer({ min: 0, max: 15 }), fc.integer({ min: -30, max: -1 }))), {
          minLength: 20,
          maxLength: options.maxCommands ?? 80,
        }),
        async (steps) => {
          const { queue, dispose } = await make();
          try {
            const model = new ReferenceQueue();
            const ids = new IdMap();
            let now = 100;
            const recent: Array<{ id: string; owner: string }> = [];
            /** Message ids of each job when it was last leased or split (reference ids). */
            const held = new Map<string, string[]>();
            for (const [step, dt] of steps) {
              // Times stay positive, as real ones are (a hold or lease ending at 0 would mean "none").
              now = Math.max(1, now + dt);
              let o = resolve(step, recent);
              if (o.op === 'splitMessages') {
                const mids = held.get(o.id) ?? [];
                o = { ...o, mids: o.take.map((i) => mids[i] ?? 'm99') };
              }
              const expected = await apply(model, o, now);
              if ((o.op === 'claim' || (o.op === 'add' && o.lease)) && Array.isArray(expected)) {
                const owner = o.op === 'claim' ? o.owner : 'o1';
                for (const job of expected as Job[]) {
                  recent.unshift({ id: job.id, owner });
                  held.set(
                    job.id,
                    job.messages.map((m) => m.id),
                  );
                }
              }
              // A part split off is leased under the job's lease.
              if (o.op === 'splitMessages' && typeof expected === 'string' && expected !== o.id) {
                recent.unshift({ id: expected, owner: o.owner });
                held.set(expected, o.mids!);
              }
              const actual = normalize(o, await apply(queue, forStore(o, ids), now), ids, expected);
              expect(actual, JSON.stringify(o)).toEqual(expected);
              const did =
                o.op === 'splitMessages'
                  ? typeof expected === 'string' && expected !== o.id
                  : Array.isArray(expected)
                    ? expected.length > 0
                    : expected === true || Number(expected) > 0;
              if (did) hits[o.op] = (hits[o.op] ?? 0) + 1;
            }
            expect(await queue.stats(now)).toEqual(model.stats(now));
          } finally {
            await dispose();
          }
        },
      ),
      // A fixed seed: the same sequences on every run (CI is deterministic); RK_FC_SEED explores others.
      {
        numRuns: options.runs ?? Number(process.env.RK_FC_RUNS ?? 100),
        seed: Number(process.env.RK_FC_SEED ?? 20261202),
      },
    );
    // The sequences really exercise the store (not only refusals and empty answers).
    const runs = options.runs ?? Number(process.env.RK_FC_RUNS ?? 100);
    for (const command of ['claim', 'bury', 'complete', 'release', 'splitMessages'] as const) {
      expect(hits[command] ?? 0, command).toBeGreaterThan(Math.floor(runs / 40));
    }
    expect(hits.deadLetters ?? 0, 'deadLetters').toBeGreaterThan(0);
  }, 300_000);
}
