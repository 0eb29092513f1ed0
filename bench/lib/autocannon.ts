import { createRequire } from 'node:module';

/** The part of autocannon's options the benches use (the package ships no types). */
export interface LoadOptions {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Replace `[<id>]` in the body with a fresh id per request. */
  idReplacement?: boolean;
  connections?: number;
  /** Seconds. */
  duration?: number;
}

/** The part of autocannon's result the benches read. */
export interface LoadResult {
  /** Seconds actually run. */
  duration: number;
  '2xx': number;
  non2xx: number;
  errors: number;
  timeouts: number;
  latency: { p50: number; p99: number; average: number };
}

const load = createRequire(import.meta.url)('autocannon') as (options: LoadOptions) => Promise<LoadResult>;

/** Runs one autocannon load (in this process) and resolves with its result. */
export function runLoad(options: LoadOptions): Promise<LoadResult> {
  return load(options);
}
