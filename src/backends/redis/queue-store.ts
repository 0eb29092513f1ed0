import { DuplicateMessageError } from '../../core/errors.js';
import { newJob } from '../jobs.js';
import { encodeMessages } from '../payload-codec.js';
import type {
  ClaimQuery,
  DeadLetter,
  DeadLetterFilter,
  Job,
  JobInput,
  LeaseRef,
  MessageRecord,
  MessageStatus,
  Priority,
  QueueStats,
  QueueStore,
} from '../types.js';
import type { Connection } from './connection.js';
import { toBackendError } from './errors.js';
import { script } from './scripts.js';

type Arg = string | number;

/**
 * Entries of a hash one `prune` step reads (an HSCAN COUNT): on a 1M-record queue a step costs about two
 * HSCAN pages of Redis time (measured in README.md), so other clients are never kept waiting for long.
 */
const PRUNE_STEP = 1000;
/** A job from Lua: "id,priority,attempts,enqueuedAt,notBefore,failedAt" joined (ASCII), then the rest. */
type JobReply = [
  head: string,
  lane: string,
  scopes: string,
  messages: string,
  lastError: string | null,
  costs: string | null,
];

/**
 * A queue in Redis, with the semantics of MemoryQueueStore: every operation is one Lua script over the
 * queue's keys, which share the hash tag `{prefix:q:name}` (one Cluster slot per queue); `prune` is a
 * loop of bounded steps. Payloads are stored as JSON and never parsed by Lua (a partial completion or a
 * split cuts the JSON text between messages). Every operation on a leased job names its lease and is
 * refused (counted `stale`) unless the job is still leased to that owner. While Redis is unreachable
 * every operation rejects with a BackendError.
 */
export class RedisQueueStore<T = unknown> implements QueueStore<T> {
  readonly #connection: Connection;
  readonly #keys: string[];
  readonly #jobPrefix: string;

  /** `prefix` is the queue's key prefix, `{prefix:q:name}:`. */
  constructor(connection: Connection, prefix: string) {
    this.#connection = connection;
    this.#keys = [
      'seq',
      'line:critical',
      'line:normal',
      'line:optional',
      'leased',
      'dead',
      'live',
      'rec2',
      'holds',
      'counters',
      'hold-ends',
    ].map((suffix) => prefix + suffix);
    this.#jobPrefix = `${prefix}j:`;
  }

  async add(
    jobs: ReadonlyArray<JobInput<T>>,
    now: number,
    lease?: { owner: string; until: number },
  ): Promise<Job<T>[]> {
    if (jobs.length === 0) return [];
    const args: Arg[] = [now, lease?.owner ?? '', lease?.until ?? 0, jobs.length];
    for (const job of jobs) {
      args.push(
        job.priority,
        job.lane,
        JSON.stringify(job.scopes),
        job.costs ? JSON.stringify(job.costs) : '',
        encodeMessages(job.messages, 'Redis'),
        JSON.stringify(job.messages.map((m) => m.id)),
        job.messages.length,
      );
    }
    const reply = (await this.#run('queue-add.v2', args)) as string[];
    if (reply[0] === 'dup') throw new DuplicateMessageError(reply.slice(1));
    return jobs.map((input, i) => newJob(reply[i + 1]!, input, now));
  }

  async record(
    ids: readonly string[],
    status: MessageStatus,
    priority: Priority,
    now: number,
    error?: string,
  ): Promise<void> {
    if (ids.length === 0) return;
    await this.#run('queue-record.v2', [
      status,
      priority,
      now,
      error ?? '',
      error === undefined ? '0' : '1',
      ...ids,
    ]);
  }

  async hasClaimable(priority: Priority, now: number): Promise<boolean> {
    return (await this.#run('queue-has-claimable.v2', [priority, now])) === 1;
  }

  async claim(query: ClaimQuery): Promise<Job<T>[]> {
    const reply = (await this.#run('queue-claim.v2', [
      query.now,
      query.owner,
      query.leaseUntil,
      query.maxJobs,
      query.remaining,
      query.reserve,
    ])) as JobReply[];
    return reply.map((r) => toJob<T>(r));
  }

  async complete(leases: readonly LeaseRef[], now: number): Promise<number> {
    if (leases.length === 0) return 0;
    return (await this.#run('queue-complete.v2', [now, ...leaseArgs(leases)])) as number;
  }

  async completeMessages(lease: LeaseRef, messageIds: readonly string[], now: number): Promise<boolean> {
    return (
      (await this.#run('queue-complete-messages.v2', [lease.jobId, lease.owner, now, ...messageIds])) === 1
    );
  }

  async splitMessages(lease: LeaseRef, messageIds: readonly string[]): Promise<string | null> {
    const reply = await this.#run('queue-split-messages.v2', [lease.jobId, lease.owner, ...messageIds]);
    return typeof reply === 'string' ? reply : null;
  }

  async release(
    lease: LeaseRef,
    now: number,
    options: { notBefore: number; failed: boolean; error?: string; attempt?: boolean },
  ): Promise<boolean> {
    const reply = await this.#run('queue-release.v2', [
      lease.jobId,
      lease.owner,
      now,
      options.notBefore,
      options.failed ? '1' : '0',
      options.error ?? '',
      options.error === undefined ? '0' : '1',
      options.attempt === false ? '0' : '1',
    ]);
    return reply === 1;
  }

  async bury(lease: LeaseRef, now: number, error: string): Promise<boolean> {
    return (await this.#run('queue-bury.v2', [lease.jobId, lease.owner, now, error])) === 1;
  }

  async extend(leases: readonly LeaseRef[], until: number): Promise<LeaseRef[]> {
    if (leases.length === 0) return [];
    const lost = (await this.#run('queue-extend.v2', [until, ...leaseArgs(leases)])) as number[];
    return lost.map((position) => leases[position - 1]!);
  }

  async recover(now: number): Promise<number> {
    return (await this.#run('queue-recover.v2', [now])) as number;
  }

  async holdLane(lane: string, until: number): Promise<void> {
    await this.#run('queue-hold-lane.v2', [lane, until]);
  }

  async getRecord(id: string): Promise<MessageRecord | undefined> {
    const raw = (await this.#run('queue-get-record.v2', [id])) as string | null;
    if (raw === null) return undefined;
    const [status, priority, attempts, lastError, createdAt, updatedAt, deliveredAt] = JSON.parse(raw) as [
      MessageStatus,
      Priority,
      string,
      string | null,
      string,
      string,
      string | null,
    ];
    return {
      id,
      status,
      priority,
      attempts: Number(attempts),
      lastError,
      createdAt: Number(createdAt),
      updatedAt: Number(updatedAt),
      deliveredAt: deliveredAt === null ? null : Number(deliveredAt),
    };
  }

  async stats(now: number): Promise<QueueStats> {
    const r = ((await this.#run('queue-stats.v2', [now])) as string[]).map(Number) as number[];
    return {
      queued: { critical: r[0]!, normal: r[1]!, optional: r[2]! },
      retrying: r[3]!,
      inFlight: r[4]!,
      deadLettered: r[5]!,
      counters: { delivered: r[6]!, dropped: r[7]!, deadLettered: r[8]!, retried: r[9]!, stale: r[10]! },
    };
  }

  async deadLetters(filter: DeadLetterFilter = {}, limit = 100): Promise<DeadLetter<T>[]> {
    const reply = (await this.#run('queue-dead-letters.v2', [...filterArgs(filter), limit])) as JobReply[];
    return reply.map((r) => {
      const job = toJob<T>(r) as DeadLetter<T>;
      job.failedAt = Number(r[0].slice(r[0].lastIndexOf(',') + 1));
      return job;
    });
  }

  async replay(filter: DeadLetterFilter, now: number): Promise<number> {
    return (await this.#run('queue-replay.v2', [...filterArgs(filter), now])) as number;
  }

  async purge(filter: DeadLetterFilter): Promise<number> {
    return (await this.#run('queue-purge.v2', filterArgs(filter))) as number;
  }

  /**
   * Walks the records, then the lane holds, one bounded script call per step ({@link PRUNE_STEP}
   * entries): never one long scan that would block Redis. Records written while it walks may be left
   * for the next prune.
   */
  async prune(before: number, now: number): Promise<number> {
    let count = 0;
    for (const target of ['records', 'holds'] as const) {
      let cursor = '0';
      do {
        const [next, deleted] = (await this.#run('queue-prune.v2', [
          before,
          now,
          target,
          cursor,
          PRUNE_STEP,
        ])) as [string, number];
        if (target === 'records') count += deleted;
        cursor = next;
      } while (cursor !== '0');
    }
    return count;
  }

  async #run(name: string, args: Arg[]): Promise<unknown> {
    try {
      await this.#connection.ready();
      return await script(name).run(this.#connection.client, this.#keys, [this.#jobPrefix, ...args]);
    } catch (error) {
      throw toBackendError(error, name);
    }
  }
}

/** Leases as script arguments: job id, owner, job id, owner, ... */
function leaseArgs(leases: readonly LeaseRef[]): Arg[] {
  const args: Arg[] = new Array(leases.length * 2);
  for (let i = 0; i < leases.length; i++) {
    args[2 * i] = leases[i]!.jobId;
    args[2 * i + 1] = leases[i]!.owner;
  }
  return args;
}

function filterArgs(filter: DeadLetterFilter): Arg[] {
  return [
    filter.jobIds ? JSON.stringify(filter.jobIds) : '',
    filter.messageIds ? JSON.stringify(filter.messageIds) : '',
    filter.priority ?? '',
    filter.lane === undefined ? '0' : '1',
    filter.lane ?? '',
    filter.failedBefore ?? '',
  ];
}

function toJob<T>(r: JobReply): Job<T> {
  const [id, priority, attempts, enqueuedAt, notBefore] = r[0].split(',') as [
    string,
    Priority,
    string,
    string,
    string,
  ];
  const job: Job<T> = {
    id,
    priority,
    lane: r[1],
    // Most batches name no scope: no parse for the common '[]'.
    scopes: r[2] === '[]' ? [] : (JSON.parse(r[2]) as string[]),
    messages: JSON.parse(r[3]) as Job<T>['messages'],
    attempts: Number(attempts),
    enqueuedAt: Number(enqueuedAt),
    notBefore: Number(notBefore),
    lastError: r[4],
  };
  if (r[5]) job.costs = JSON.parse(r[5]) as Record<string, number>;
  return job;
}
