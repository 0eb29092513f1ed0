/**
 * `ratekeeper/llm`: go-ratelimit's per-model RPM / TPM / RPD limiter on ratekeeper's engine, token
 * counting, go-ratelimit state import and a rate-limited `fetch` for the official LLM SDKs.
 * @packageDocumentation
 */

export { type CallBody, maxOutputOf, modelOf, promptTokensOf, usageOf } from './call-body.js';
export { UpstreamError } from './errors.js';
export {
  type GoImportReport,
  type GoState,
  GoStateFileError,
  importGoState,
  parseGoState,
  readGoState,
} from './go-state.js';
export { type LimitedFetchEvent, type LimitedFetchOptions, limitedFetch } from './limited-fetch.js';
export {
  type ModelDecision,
  type ModelDecisionCode,
  ModelLimiter,
  type ModelLimiterOptions,
  type ModelStats,
  type WaitOptions,
} from './model-limiter.js';
export {
  checkQuota,
  defaultProfiles,
  type ModelQuota,
  PROVIDERS,
  type Provider,
} from './quotas.js';
export {
  parseResetDuration,
  parseRetryAfter,
  type ReceiverSignals,
  type ReportedLimit,
  readGeminiError,
  readHeaders,
} from './receiver-signals.js';
export { Reservation } from './reservation.js';
export { streamUsage } from './stream-usage.js';
export {
  type ChatMessageLike,
  countGeminiTokens,
  estimateTokens,
  type GeminiCountOptions,
  heuristicTokens,
  openaiEncoding,
  type TokenInput,
} from './tokens.js';
