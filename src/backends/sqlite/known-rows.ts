import type { RuleState } from '../../algorithms/types.js';
import type { AlgorithmName } from '../../core/types.js';
import { EMPTY_STATE } from './state-codec.js';

/**
 * A state row as this process last read or wrote it: its BLOB exactly as stored, the state it decodes
 * to, and the row's copy of its scope's block. A decision on a known row is computed in JS first and
 * written with one plain UPDATE that applies only if the row still holds exactly this BLOB and block (a
 * compare-and-set under the write lock): a row another process (or another path of this one) changed since
 * fails the comparison and is decided against what it holds. Equal bytes are an equal state, so the
 * decision is exact either way (the bytes include the algorithm that wrote them: see state-codec.ts).
 *
 * `state` is the BLOB decoded for `algorithm`: a rule redefined with another algorithm must not decide on
 * it, but against the row (which that algorithm reads as never used).
 */
export interface KnownRow {
  blob: Buffer;
  state: RuleState | undefined;
  until: number;
  algorithm: AlgorithmName;
}

/**
 * Rows remembered at most: a few hundred bytes each (its key, its state encoded in a buffer of its own and
 * decoded), ~10–20 MB in all. Past it, the oldest remembered is forgotten; a forgotten key is decided as if
 * never seen, against its row.
 */
const KNOWN_ROWS = 32_768;

/** The rows of one SqliteLimitStore's single-rule path, by state key, bounded. */
export class KnownRows {
  readonly #rows = new Map<string, KnownRow>();

  get(key: string): KnownRow | undefined {
    return this.#rows.get(key);
  }

  /**
   * Remembers `key`'s row as now holding `blob` (copied unless it owns its memory) and `until`, which decode
   * to `state` for `algorithm`.
   */
  set(key: string, row: KnownRow, owned: boolean): void {
    const known = this.#rows.get(key);
    const bytes = owned ? row.blob : keep(row.blob, known?.blob);
    if (known !== undefined) {
      known.blob = bytes;
      known.state = row.state;
      known.until = row.until;
      known.algorithm = row.algorithm;
      return;
    }
    if (this.#rows.size >= KNOWN_ROWS) this.#rows.delete(this.#rows.keys().next().value!);
    this.#rows.set(key, { blob: bytes, state: row.state, until: row.until, algorithm: row.algorithm });
  }

  /** After a compare-and-set of `known`'s row: it holds `blob` (a pool slice, copied) and `state`. */
  update(known: KnownRow, blob: Buffer, state: RuleState): void {
    known.blob = keep(blob, known.blob);
    known.state = state;
  }

  get size(): number {
    return this.#rows.size;
  }
}

/**
 * The bytes of `encoded` in memory of their own, reusing `into` when it has the same length. An encoded
 * state is a slice of Node's shared 8 KiB Buffer pool: a remembered slice would keep its whole pool
 * block alive (8 KiB per row, when other code allocates between two rows' writes).
 */
function keep(encoded: Buffer, into: Buffer | undefined): Buffer {
  if (encoded.length === 0) return EMPTY_STATE;
  if (into !== undefined && into !== EMPTY_STATE && into.length === encoded.length) {
    into.set(encoded);
    return into;
  }
  const own = Buffer.allocUnsafeSlow(encoded.length);
  own.set(encoded);
  return own;
}
