/**
 * ratekeeper: deliver messages and API calls without ever breaking the receiver's rate limits.
 * @packageDocumentation
 */
export {
  type Algorithm,
  algorithms,
  fixedWindow,
  type RuleState,
  slidingWindow,
  tokenBucket,
} from './algorithms/index.js';
export { MemoryBackend } from './backends/memory/index.js';
export { UnstorablePayloadError } from './backends/payload-codec.js';
export {
  RedisBackend,
  type RedisBackendOptions,
  type RedisClient,
  type RedisFallbackOptions,
  type RedisHealth,
} from './backends/redis/index.js';
export { SqliteBackend, type SqliteBackendOptions } from './backends/sqlite/index.js';
export type {
  Backend,
  ClaimQuery,
  DeadLetter,
  DeadLetterFilter,
  Job,
  JobInput,
  LeaseRef,
  LimitStore,
  MaybePromise,
  MessageRecord,
  MessageStatus,
  Priority,
  QueueCounters,
  QueuedMessage,
  QueueStats,
  QueueStore,
} from './backends/types.js';
export { PRIORITIES } from './backends/types.js';
export { type Clock, type ClockLike, FakeClock, systemClock, toClock } from './core/clock.js';
export { type Duration, formatDuration, parseDuration } from './core/duration.js';
export {
  AbortError,
  BackendError,
  ClosedError,
  CostExceedsCapacityError,
  DuplicateMessageError,
  type ErrorCode,
  InvalidArgumentError,
  isInvalidArgumentError,
  isRateKeeperError,
  NotADatabaseError,
  RateKeeperError,
  TimeoutError,
} from './core/errors.js';
export type {
  AlgorithmName,
  BlockedBy,
  CompiledRule,
  Cost,
  Decision,
  LimitAlternative,
  LimitRequest,
  Rule,
  RuleStats,
} from './core/types.js';
export { compileRule, ScopeRules } from './engine/rules.js';
export { type AcquireOptions, RateLimiter, type RateLimiterOptions } from './limiter/rate-limiter.js';
export {
  type Admission,
  admit,
  classifyFailure,
  isPermanentError,
  isRetryAfterError,
  ListenerError,
  type Logger,
  type ManagerEvents,
  type ManagerMessage,
  type ManagerStats,
  PermanentError,
  type Quota,
  RateLimitManager,
  type RateLimitManagerOptions,
  RetryAfterError,
  type RetryOptions,
  type SendContext,
  type Sender,
  type SendOutcome,
  type StopOptions,
  stderrLogger,
} from './manager/index.js';
export {
  type Bottleneck,
  type Plan,
  type PlanEndpoint,
  type PlanInput,
  type PlanJobType,
  plan,
  type TypePlan,
} from './planner/index.js';
export {
  type ModelDecision,
  type ModelDecisionCode,
  ModelLimiter,
  type ModelLimiterOptions,
  type ModelStats,
} from './profiles/llm/index.js';
export { type RlnEpoch, type RlnEpochOptions, rlnEpoch } from './profiles/rln/index.js';
export {
  chooseEndpoint,
  decideWorkers,
  type EndpointChoice,
  endpointRequest,
  importRedisList,
  MemoryRunStore,
  type Recurring,
  RedisRunStore,
  type RunDefinition,
  type RunHandle,
  type RunHandler,
  type RunJob,
  type RunJobContext,
  type RunJobInput,
  type RunJobType,
  type RunRecord,
  type RunSettings,
  type RunStatus,
  type RunStore,
  Runs,
  type RunsOptions,
  type ScalingDecision,
  type ScalingInput,
  SqliteRunStore,
} from './runs/index.js';
