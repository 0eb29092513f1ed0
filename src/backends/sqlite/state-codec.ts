import type { RuleState } from '../../algorithms/types.js';
import type { CompiledRule } from '../../core/types.js';
import { ALGORITHM_CODE } from '../algorithm-codes.js';

/** The stored form of "never used" (a row kept after a refusal, or a fully refunded state), for any algorithm. */
export const EMPTY_STATE: Buffer = Buffer.alloc(0);

/**
 * Rule states are stored as little-endian float64 BLOBs: exact for every number an algorithm produces,
 * and several times cheaper to read and write than JSON (this is on the path of every decision).
 *
 * The BLOB ends with one byte, the code of the algorithm that wrote it (`ALGORITHM_CODE`): `8n + 1` bytes.
 * A rule that keeps its name but changes its algorithm finds another algorithm's code and reads the state as
 * never used (see {@link decodeState}). The byte is last so that a process of an earlier version sharing the
 * file (which reads `length >>> 3` doubles) still reads the numbers of its own algorithm's states.
 */
export function encodeState(state: RuleState, rule: CompiledRule): Buffer {
  if (state.length === 0) return EMPTY_STATE;
  const end = state.length * 8;
  const out = Buffer.allocUnsafe(end + 1);
  for (let i = 0; i < state.length; i++) out.writeDoubleLE(state[i]!, i * 8);
  out[end] = ALGORITHM_CODE[rule.algorithm];
  return out;
}

/**
 * The state a BLOB holds for `rule` at `now`; `undefined` (never used) for an empty BLOB and for the state of
 * another algorithm: the rule starts over rather than misread it.
 *
 * A BLOB of `8n` bytes was written before states carried their algorithm: it is read as `rule`'s own when its
 * numbers have that algorithm's shape (see {@link fitsUntagged}), so an existing file keeps its usage; one
 * that cannot be `rule`'s (another algorithm's, after a config change made together with the upgrade) reads
 * as never used.
 */
export function decodeState(
  blob: Uint8Array | null | undefined,
  rule: CompiledRule,
  now: number,
): RuleState | undefined {
  if (!blob || blob.length === 0) return undefined;
  const buffer = Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.length);
  const tail = buffer.length & 7;
  if (tail === 1) {
    if (buffer[buffer.length - 1] !== ALGORITHM_CODE[rule.algorithm]) return undefined;
  } else if (tail !== 0) {
    return undefined;
  }
  const state: number[] = new Array(buffer.length >>> 3);
  for (let i = 0; i < state.length; i++) state[i] = buffer.readDoubleLE(i * 8);
  return tail === 1 || fitsUntagged(state, rule, now) ? state : undefined;
}

/**
 * Whether numbers stored without an algorithm can be `rule`'s state: a token bucket's one time; a fixed or
 * anchored window's start and usage (those two cannot be told apart: each reads the other's as its own); a
 * sliding window's pairs, sub-window indexes ascending, the newest starting at most a window and a day of
 * clock skew after `now` (a time in ms read as a sub-window index would be `step` times later, and count for
 * ages).
 */
/** How far ahead of this process's clock an untagged sliding window's newest sub-window may start. */
const UNTAGGED_SKEW_MS = 86_400_000;

function fitsUntagged(state: readonly number[], rule: CompiledRule, now: number): boolean {
  for (let i = 0; i < state.length; i++) if (!Number.isFinite(state[i])) return false;
  switch (rule.algorithm) {
    case 'token-bucket':
      return state.length === 1;
    case 'fixed-window':
    case 'anchored-window':
      return state.length === 2 && state[1]! >= 0;
    case 'sliding-window': {
      if (state.length % 2 !== 0) return false;
      for (let i = 0; i < state.length; i += 2) {
        if (!Number.isInteger(state[i]) || state[i + 1]! < 0) return false;
        if (i > 0 && state[i]! <= state[i - 2]!) return false;
      }
      // A day of clock skew allowed: the writer's clock may be ahead of this one (a legitimate state must
      // never read as never used); a misread time in ms is `step` times later than any clock.
      return state[state.length - 2]! * rule.step <= now + rule.windowMs + UNTAGGED_SKEW_MS;
    }
  }
}
