import { InvalidArgumentError } from '../../core/errors.js';

/**
 * The limits of one model, go-ratelimit's `ModelQuota`. Each is a count per dimension; `0` means unlimited
 * in that dimension (usage is still counted and shown by `stats`).
 */
export interface ModelQuota {
  /** Requests per sliding minute. */
  maxRpm: number;
  /** Tokens (prompt + output) per sliding minute. */
  maxTpm: number;
  /** Requests per day, counted from its first request (go-ratelimit's `day_start`). */
  maxRpd: number;
}

/** The providers with a default quota profile. */
export type Provider = 'gemini' | 'openai' | 'anthropic' | 'local';

/** Every provider name, in go-ratelimit's order. */
export const PROVIDERS: readonly Provider[] = ['gemini', 'openai', 'anthropic', 'local'];

const q = (maxRpm: number, maxTpm: number, maxRpd: number): ModelQuota => ({ maxRpm, maxTpm, maxRpd });

/**
 * go-ratelimit's `DefaultProfiles()` (as of February 2026): the published quotas per provider and model.
 * Returns fresh objects each call, so callers may change them.
 */
export function defaultProfiles(): Record<Provider, Record<string, ModelQuota>> {
  return {
    gemini: {
      'gemini-3-pro-preview': q(150, 1_000_000, 1000),
      'gemini-3-flash-preview': q(150, 1_000_000, 1000),
      'gemini-2.5-pro': q(150, 1_000_000, 1000),
      'gemini-2.0-flash': q(150, 1_000_000, 0),
      'gemini-2.0-flash-lite': q(0, 0, 0),
    },
    openai: {
      'gpt-4o': q(500, 30_000, 0),
      'gpt-4-turbo': q(500, 30_000, 0),
      o1: q(500, 30_000, 0),
      'gpt-4o-mini': q(500, 200_000, 0),
      'o1-mini': q(500, 200_000, 0),
      'o3-mini': q(500, 200_000, 0),
    },
    anthropic: {
      'claude-opus-4': q(50, 40_000, 0),
      'claude-sonnet-4': q(50, 40_000, 0),
      'claude-haiku-3.5': q(50, 50_000, 0),
    },
    local: {},
  };
}

/** Checks a provider name. */
export function checkProvider(provider: unknown, field = 'provider'): Provider {
  if (typeof provider !== 'string' || !PROVIDERS.includes(provider as Provider)) {
    throw new InvalidArgumentError(field, `one of ${PROVIDERS.join(', ')}`, provider);
  }
  return provider as Provider;
}

/** Checks a model name: a non-empty string. */
export function checkModel(model: unknown, field = 'model'): string {
  if (typeof model !== 'string' || model.length === 0) {
    throw new InvalidArgumentError(field, 'a non-empty model name', model);
  }
  return model;
}

/** Validates a quota (each dimension an integer ≥ 0) and returns a frozen copy. */
export function checkQuota(quota: unknown, field = 'quota'): Readonly<ModelQuota> {
  if (quota === null || typeof quota !== 'object') {
    throw new InvalidArgumentError(field, 'an object { maxRpm, maxTpm, maxRpd }', quota);
  }
  const source = quota as Record<string, unknown>;
  const out: Record<string, number> = {};
  for (const key of ['maxRpm', 'maxTpm', 'maxRpd'] as const) {
    const value = source[key] ?? 0;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new InvalidArgumentError(`${field}.${key}`, 'an integer >= 0 (0 = unlimited)', value);
    }
    out[key] = value;
  }
  return Object.freeze(out as unknown as ModelQuota);
}

/** True when every dimension is unlimited. */
export function isUnlimited(quota: ModelQuota): boolean {
  return quota.maxRpm === 0 && quota.maxTpm === 0 && quota.maxRpd === 0;
}
