import type { RunRecord, RunSettings } from './types.js';

/**
 * How the plan's workers are divided among the processes serving a run, so that together they never run
 * more slots than the plan gives (`record.workers`), whoever joins or dies.
 *
 * Every process writes, at each heartbeat (compare-and-set on the record), its sign of life and the slots
 * it holds per type (`record.shares[owner]`). The live processes (a heartbeat within {@link livenessMs})
 * are sorted by owner id; the plan's `n` slots of a type are divided as evenly as possible among them (the
 * first `n mod live` get one more). A process takes its fair share only out of what the OTHERS do not
 * hold: it never raises its slots past `n − Σ others`, and a process giving slots back keeps them in its
 * share until its slots above the new target have finished their job. So `Σ shares ≤ n` holds at every
 * moment, and re-division converges within a couple of heartbeats. A process that stops heartbeating
 * (SIGKILL) is dropped from the record by the next one that beats, and its share is free again.
 */

/** Heartbeat period: every lease/3 (when leases are extended) or every re-plan, whichever is sooner. */
export function heartbeatMs(settings: RunSettings): number {
  return Math.min(settings.replanEveryMs, settings.leaseMs / 3);
}

/** A process not heard from within three heartbeats is presumed dead. */
export function livenessMs(settings: RunSettings): number {
  return 3 * heartbeatMs(settings);
}

/**
 * One heartbeat of `owner` at `now`, applied to the record in place: drops dead processes, records this
 * one's sign of life and the slots it may run per type (returned), given the slots it runs now (`active`).
 */
export function beat(
  record: RunRecord,
  owner: string,
  now: number,
  active: Readonly<Record<string, number>>,
): Record<string, number> {
  record.heartbeats ??= {};
  record.shares ??= {};
  const recent = now - livenessMs(record.input);
  for (const [other, at] of Object.entries(record.heartbeats))
    if (other !== owner && at < recent) delete record.heartbeats[other];
  for (const other of Object.keys(record.shares))
    if (other !== owner && !(other in record.heartbeats)) delete record.shares[other];
  record.heartbeats[owner] = Math.max(record.heartbeats[owner] ?? 0, now);
  const live = Object.keys(record.heartbeats).sort();
  const rank = live.indexOf(owner);
  const target: Record<string, number> = {};
  const held: Record<string, number> = {};
  for (const type of Object.keys(record.input.types)) {
    const n = record.workers[type] ?? 0;
    const fair = Math.floor(n / live.length) + (rank < n % live.length ? 1 : 0);
    let others = 0;
    for (const [other, share] of Object.entries(record.shares))
      if (other !== owner) others += share[type] ?? 0;
    target[type] = Math.max(0, Math.min(fair, n - others));
    held[type] = Math.max(target[type]!, active[type] ?? 0);
  }
  record.shares[owner] = held;
  return target;
}

/** Leaving the run: this process's heartbeat and share are removed. */
export function leave(record: RunRecord, owner: string): void {
  delete record.heartbeats?.[owner];
  delete record.shares?.[owner];
}
