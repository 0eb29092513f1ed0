import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration } from '../core/duration.js';
import { InvalidArgumentError } from '../core/errors.js';
import { interpolateEnv } from './env.js';

const duration = z.union([z.number(), z.string()]).superRefine((value, ctx) => {
  try {
    parseDuration(value);
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: "a duration: milliseconds or a string like '250ms', '1s', '1m', '10m', '1h', '1d'",
    });
  }
});

const rule = z.strictObject({
  limit: z.number().nonnegative(),
  window: duration,
  algorithm: z.enum(['sliding-window', 'token-bucket', 'fixed-window', 'anchored-window']).optional(),
  unit: z.string().min(1).optional(),
  burst: z.number().positive().optional(),
  name: z.string().min(1).optional(),
});
const rules = z.union([rule, z.array(rule)]);

const httpUrl = z.string().refine(
  (value) => {
    try {
      const url = new URL(value);
      return url.protocol === 'http:' || url.protocol === 'https:';
    } catch {
      return false;
    }
  },
  { message: 'an http:// or https:// URL' },
);

const headers = z.record(z.string(), z.string());

const endpoint = z.strictObject({
  url: httpUrl,
  headers: headers.optional(),
  limits: z.array(rule).default([]),
});

const target = z.strictObject({
  url: httpUrl,
  method: z.enum(['POST', 'PUT', 'PATCH']).default('POST'),
  headers: headers.default({}),
  /** Per-request timeout. */
  timeout: duration.default('10s'),
  limits: z.array(rule).default([]),
  overflow: z.array(endpoint).default([]),
});

const manager = z.strictObject({
  capacity: z.number().int().positive().default(600),
  duration: duration.default('1m'),
  sleep: duration.optional(),
  algorithm: z.enum(['sliding-window', 'token-bucket', 'fixed-window', 'anchored-window']).optional(),
  name: z.string().min(1).optional(),
  scopes: z.record(z.string(), rules).default({}),
  lowQuotaThreshold: z.number().min(0).max(1).optional(),
  maxBatchFraction: z.number().min(0).max(1).optional(),
  retry: z
    .strictObject({
      maxAttempts: z.number().int().positive().optional(),
      maxRetryAfter: z.number().int().min(0).optional(),
      baseDelay: duration.optional(),
      maxDelay: duration.optional(),
    })
    .optional(),
  concurrency: z.number().int().positive().optional(),
  leaseTime: duration.optional(),
  retention: duration.optional(),
});

const listen = z.string().refine((value) => splitListen(value) !== undefined, {
  message: 'host:port, e.g. 127.0.0.1:8080 (port 0 picks a free one)',
});

const backend = z
  .string()
  .refine((value) => value === 'memory' || /^sqlite:.+/.test(value) || /^rediss?:\/\/.+/.test(value), {
    message: 'memory, sqlite:PATH or redis://HOST:PORT[/DB]',
  });

/** The schema of `ratekeeper.yaml` (and of the object `createServer` takes). */
export const configSchema = z.strictObject({
  listen: listen.default('127.0.0.1:8080'),
  backend: backend.default('sqlite:./ratekeeper.db'),
  redisPrefix: z.string().min(1).default('rk'),
  auth: z.strictObject({ tokens: z.array(z.string().min(1)).default([]) }).default({ tokens: [] }),
  /** Start on a non-loopback host without tokens (the `--insecure` flag). */
  insecure: z.boolean().default(false),
  /** Largest request body in bytes. @default 1 MiB */
  bodyLimit: z
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    })
    .default({ level: 'info' }),
  manager: manager.default({ capacity: 600, duration: '1m', scopes: {} }),
  targets: z.record(z.string().regex(/^[A-Za-z0-9_.-]+$/), target).default({}),
});

/** A config as written: every key optional (the defaults of SPEC §6 apply). */
export type ServerConfigInput = z.input<typeof configSchema>;
/** A validated config with every default applied. */
export type ServerConfig = z.output<typeof configSchema>;
export type TargetConfig = ServerConfig['targets'][string];

/** `host:port` → its parts, or undefined when malformed. IPv6 hosts are written `[::1]:8080`. */
export function splitListen(value: string): { host: string; port: number } | undefined {
  const match = /^(\[[0-9a-fA-F:]+\]|[^:[\]\s]+):(\d{1,5})$/.exec(value);
  if (!match) return undefined;
  const port = Number(match[2]);
  if (port > 65_535) return undefined;
  return { host: match[1]!.replace(/^\[|\]$/g, ''), port };
}

/**
 * Validates a config object and applies the defaults.
 * @throws InvalidArgumentError naming the first bad key path (`targets.hooks.url`) and what was expected.
 */
export function parseConfig(input: unknown): ServerConfig {
  const result = configSchema.safeParse(input ?? {});
  if (result.success) return result.data;
  const issue = result.error.issues[0]!;
  const path = issue.path.length > 0 ? issue.path.map(String).join('.') : 'config';
  const received = valueAt(input, issue.path);
  throw new InvalidArgumentError(path, expectation(issue), received);
}

function expectation(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `no key ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  return issue.message.replace(/^Invalid input: expected /, '');
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let value = input;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** Environment variables that override config keys (after the file, before validation). */
const OVERRIDES: ReadonlyArray<{ name: string; path: readonly string[]; parse?: (v: string) => unknown }> = [
  { name: 'RATEKEEPER_LISTEN', path: ['listen'] },
  { name: 'RATEKEEPER_BACKEND', path: ['backend'] },
  { name: 'RATEKEEPER_REDIS_PREFIX', path: ['redisPrefix'] },
  {
    name: 'RATEKEEPER_TOKENS',
    path: ['auth', 'tokens'],
    parse: (v) =>
      v
        .split(',')
        .map((t) => t.trim())
        .filter(Boolean),
  },
  { name: 'RATEKEEPER_LOG_LEVEL', path: ['log', 'level'] },
  { name: 'RATEKEEPER_BODY_LIMIT', path: ['bodyLimit'], parse: numeric },
  { name: 'RATEKEEPER_CAPACITY', path: ['manager', 'capacity'], parse: numeric },
  { name: 'RATEKEEPER_DURATION', path: ['manager', 'duration'] },
  { name: 'RATEKEEPER_INSECURE', path: ['insecure'], parse: (v) => v === 'true' || v === '1' },
];

function numeric(value: string): unknown {
  return /^\d+(\.\d+)?$/.test(value) ? Number(value) : value;
}

/** The names of the `RATEKEEPER_*` variables {@link loadConfig} reads. */
export const ENV_OVERRIDES: readonly string[] = OVERRIDES.map((o) => o.name);

/** Applies `RATEKEEPER_*` overrides to a raw config object (a copy). */
export function applyEnvOverrides(raw: unknown, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = structuredClone(
    raw !== null && typeof raw === 'object' && !Array.isArray(raw) ? (raw as Record<string, unknown>) : {},
  );
  for (const { name, path, parse } of OVERRIDES) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    let node = out;
    for (const key of path.slice(0, -1)) {
      const next = node[key];
      if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
      node = node[key] as Record<string, unknown>;
    }
    node[path.at(-1)!] = parse ? parse(value) : value;
  }
  return out;
}

export interface LoadConfigOptions {
  /** @default process.env */
  env?: NodeJS.ProcessEnv;
}

/**
 * Reads a YAML config file (or none: the defaults), substitutes `${VAR}` from the environment, applies
 * `RATEKEEPER_*` overrides and validates.
 * @throws InvalidArgumentError naming the key path; the file name when it cannot be read or parsed.
 */
export function loadConfig(path: string | undefined, options: LoadConfigOptions = {}): ServerConfig {
  const env = options.env ?? process.env;
  let raw: unknown = {};
  if (path !== undefined) {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new InvalidArgumentError('config', `a readable YAML file (${(error as Error).message})`, path);
    }
    try {
      raw = parseYaml(text) ?? {};
    } catch (error) {
      throw new InvalidArgumentError('config', `valid YAML in ${path} (${(error as Error).message})`, path);
    }
  }
  return resolveConfig(raw, env);
}

/** `${VAR}` substitution, `RATEKEEPER_*` overrides and validation of a raw config object. */
export function resolveConfig(raw: unknown, env: NodeJS.ProcessEnv = process.env): ServerConfig {
  return parseConfig(applyEnvOverrides(interpolateEnv(raw, env), env));
}
