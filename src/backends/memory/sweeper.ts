import type { Cell } from './cells.js';

/**
 * How long an idle state (or an ended block) is kept before a sweep deletes it: a clock lagging by less than
 * this sees it exactly (see src/engine/README.md, clock skew). Keeping an idle state changes nothing (it equals
 * "never used"), and a key used every few ms whose state goes idle in between (a token bucket refilled at
 * once) would otherwise be deleted and created again on nearly every use.
 */
export const IDLE_GRACE_MS = 1000;

/** The most and the fewest entries a sweep examines besides the ones created since the last sweep. */
const SWEEP_MAX = 256;
const SWEEP_MIN = 16;

/**
 * Deletes the memory store's idle entries a few at a time, resuming where the last sweep stopped. A sweep
 * examines `base + 2 × created-since-last-sweep` entries: faster than they are created, so it keeps finishing
 * passes and the map stays bounded by the scopes live within about one pass, even when every request uses a
 * new key. `base` adapts to what the sweeps find: it halves (down to {@link SWEEP_MIN}) after a sweep that
 * found nothing idle, and doubles (up to {@link SWEEP_MAX}) after one that found idle entries in more than
 * one of 16 it examined. Examining a live entry only costs (on a big map, a cache miss each), so while every
 * state is live the sweeps cost a sixteenth of the full budget; once states go idle they are back at it
 * within a few sweeps. The price: where idle states are sparse (fewer than one in 16 of those examined) the
 * budget stays low, so on a big live map an idle state can wait up to 16 times longer to be deleted (the
 * map stays bounded: every sweep still examines more than twice the entries created since the last).
 */
export class Sweeper {
  /** Entries created since the last sweep (the store counts them here). */
  created = 0;
  /** Entries examined by all sweeps so far (for tests of what sweeping costs). */
  examined = 0;
  #base = SWEEP_MAX;
  #next: Iterator<Cell> | undefined;
  readonly #entries: Map<string, Cell>;
  readonly #remove: (head: Cell) => void;

  /** `entries`: the first cell of each scope's chain; `remove` deletes a chain from it. */
  constructor(entries: Map<string, Cell>, remove: (head: Cell) => void) {
    this.#entries = entries;
    this.#remove = remove;
  }

  /** One sweep: deletes the idle chains among the next entries. */
  step(now: number): void {
    const budget = this.#base + 2 * this.created;
    this.created = 0;
    this.#next ??= this.#entries.values();
    let examined = 0;
    let deleted = 0;
    for (; examined < budget; examined++) {
      const next = this.#next.next();
      if (next.done) {
        this.#next = undefined;
        break;
      }
      if (idleAt(next.value) + IDLE_GRACE_MS <= now) {
        this.#remove(next.value);
        deleted++;
      }
    }
    this.examined += examined;
    if (deleted * 16 > examined) this.#base = Math.min(SWEEP_MAX, this.#base * 2);
    else if (deleted === 0) this.#base = Math.max(SWEEP_MIN, this.#base >>> 1);
  }
}

/** When the last state of a scope's chain goes idle. */
function idleAt(head: Cell): number {
  let at = Number.NEGATIVE_INFINITY;
  for (let cell: Cell | undefined = head; cell !== undefined; cell = cell.next)
    at = Math.max(at, cell.idleAt());
  return at;
}
