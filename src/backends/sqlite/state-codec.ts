import type { RuleState } from '../../algorithms/types.js';

/** The stored form of "never used" (a row kept after a refusal, or a fully refunded state). */
export const EMPTY_STATE: Buffer = Buffer.alloc(0);

/**
 * Rule states are stored as little-endian float64 BLOBs: exact for every number an algorithm produces,
 * and several times cheaper to read and write than JSON (this is on the path of every decision).
 */
export function encodeState(state: RuleState): Buffer {
  const out = Buffer.allocUnsafe(state.length * 8);
  for (let i = 0; i < state.length; i++) out.writeDoubleLE(state[i]!, i * 8);
  return out;
}

/** The state a BLOB holds; `undefined` (never used) for an empty one. */
export function decodeState(blob: Uint8Array | null | undefined): RuleState | undefined {
  if (!blob || blob.length === 0) return undefined;
  const buffer = Buffer.isBuffer(blob) ? blob : Buffer.from(blob.buffer, blob.byteOffset, blob.length);
  const state: number[] = new Array(buffer.length >>> 3);
  for (let i = 0; i < state.length; i++) state[i] = buffer.readDoubleLE(i * 8);
  return state;
}
