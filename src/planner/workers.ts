import { scheduleType, type TypeSchedule } from './schedule.js';
import type { TypeSpec } from './validate.js';

/** A type's schedules by worker count, computed once each. */
export class TypeSizing {
  readonly type: TypeSpec;
  readonly #origin: number;
  readonly #cache = new Map<number, TypeSchedule>();
  /** Jobs its endpoints admit before the deadline with as many workers as wanted (≤ jobs). */
  readonly admissible: number;
  /** The fewest workers that finish all `admissible` jobs. */
  readonly needed: number;

  constructor(type: TypeSpec, origin: number) {
    this.type = type;
    this.#origin = origin;
    // One worker per job is as many as can ever help: every job can start the moment it is admitted.
    this.admissible = this.schedule(type.jobs).finished;
    this.needed = this.admissible === 0 ? 0 : this.#fewest();
  }

  /** The schedule with `workers` workers (more than the jobs never help: capped to them). */
  schedule(workers: number): TypeSchedule {
    const w = Math.max(0, Math.min(workers, this.type.jobs));
    let s = this.#cache.get(w);
    if (!s) {
      s = scheduleType(this.type, w, this.#origin);
      this.#cache.set(w, s);
    }
    return s;
  }

  /**
   * Binary search for the fewest workers whose schedule finishes every admissible job. It relies on jobs
   * finished never decreasing as workers are added (with one more worker no start is later); the property
   * test checks this against a simulated run for every worker count it tries.
   * The search starts at the work bound: w workers do at most `w · (floor(latestStart / duration) + 1)` jobs.
   */
  #fewest(): number {
    const perWorker = Math.floor(this.type.latestStartMs / this.type.durationMs) + 1;
    let lo = Math.max(1, Math.ceil(this.admissible / perWorker));
    let hi = this.type.jobs;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (this.schedule(mid).finished >= this.admissible) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/**
 * How `maxWorkers` are split among types. Each worker serves one type for the whole run (so types never
 * delay one another and each type's schedule is exact on its own). When every type can have the fewest
 * workers it needs, it gets exactly that. Otherwise the split maximises the jobs finished in total (then
 * uses the fewest workers), found exactly by dynamic programming over the types and worker counts; among
 * equal splits the one with the earlier finish is kept.
 */
export function splitWorkers(sizings: readonly TypeSizing[], maxWorkers: number): number[] {
  const wanted = sizings.map((s) => s.needed);
  if (wanted.reduce((a, b) => a + b, 0) <= maxWorkers) return wanted;

  interface Cell {
    finished: number;
    workers: number;
    finishMs: number;
    choice: number;
  }
  // best[i][u]: the best split of types 0..i-1 using exactly u workers (undefined: impossible).
  const best: Array<Array<Cell | undefined>> = [[{ finished: 0, workers: 0, finishMs: 0, choice: 0 }]];
  for (let i = 0; i < sizings.length; i++) {
    const sizing = sizings[i]!;
    const row: Array<Cell | undefined> = [];
    const prev = best[i]!;
    for (let u = 0; u < prev.length; u++) {
      const before = prev[u];
      if (!before) continue;
      for (let w = 0; w <= sizing.needed && u + w <= maxWorkers; w++) {
        const s = sizing.schedule(w);
        const cell: Cell = {
          finished: before.finished + s.finished,
          workers: u + w,
          finishMs: Math.max(before.finishMs, s.finishMs),
          choice: w,
        };
        const current = row[u + w];
        if (!current || better(cell, current)) row[u + w] = cell;
      }
    }
    best.push(row);
  }
  const last = best[sizings.length]!;
  let u = -1;
  for (let k = 0; k < last.length; k++) {
    const cell = last[k];
    if (cell && (u < 0 || better(cell, last[u]!))) u = k;
  }
  const split = sizings.map(() => 0);
  for (let i = sizings.length; i > 0; i--) {
    const w = best[i]![u]!.choice;
    split[i - 1] = w;
    u -= w;
  }
  return split;
}

function better(
  a: { finished: number; workers: number; finishMs: number },
  b: { finished: number; workers: number; finishMs: number },
): boolean {
  if (a.finished !== b.finished) return a.finished > b.finished;
  if (a.workers !== b.workers) return a.workers < b.workers;
  return a.finishMs < b.finishMs;
}
