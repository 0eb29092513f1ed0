import { formatDuration } from '../core/duration.js';
import type { Plan } from './types.js';

/**
 * A plan as a table for people: per type its jobs, workers, finish and leftover, then one line per endpoint
 * with the jobs planned on it, the totals, and what the plan means (feasible or not, the bottleneck, whether
 * it is exact or a bound).
 */
export function formatPlan(p: Plan, maxWorkers: number): string {
  const rows: string[][] = [['TYPE', 'JOBS', 'WORKERS', 'FINISH', 'LEFTOVER']];
  let jobs = 0;
  for (const [name, t] of Object.entries(p.types)) {
    jobs += t.jobs;
    rows.push([name, String(t.jobs), String(t.workers), seconds(t.finishMs), String(t.leftover)]);
    for (const [endpoint, n] of Object.entries(t.endpoints))
      rows.push([`  ${endpoint}`, String(n), '', '', '']);
  }
  rows.push(['TOTAL', String(jobs), String(p.workers), seconds(p.finishMs), String(p.leftover)]);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const table = rows.map((r) =>
    r
      .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
      .join('  ')
      .trimEnd(),
  );
  const deadline = formatDuration(p.deadlineMs);
  return [
    `Plan: deadline ${deadline}, up to ${maxWorkers} workers`,
    '',
    ...table,
    '',
    ...summary(p, deadline),
    '',
  ].join('\n');
}

function summary(p: Plan, deadline: string): string[] {
  const lines =
    p.leftover === 0
      ? [`Feasible: every job finishes by the deadline (${seconds(p.finishMs)} of ${deadline}).`]
      : [
          `Not feasible: ${p.leftover} jobs will not finish by the deadline (they join the next run's backlog).`,
        ];
  const { kind, type, endpoint } = p.bottleneck;
  if (kind === 'rate') {
    lines.push(
      `Bottleneck: rate: the endpoints of ${type} cannot admit all its jobs by the deadline (tightest: ${endpoint}).`,
    );
  } else if (kind === 'workers') {
    lines.push(
      `Bottleneck: workers: the cap leaves work over (most of it ${type}); more workers would help.`,
    );
  } else if (kind === 'time') {
    lines.push(`Bottleneck: time: one ${type} job takes longer than the deadline.`);
  }
  if (!p.exact) {
    lines.push(
      'Bound: no start time given: the plan assumes a start on a boundary of every window (a start makes it exact).',
    );
  }
  return lines;
}

/** 160600 → '160.6s'. */
function seconds(ms: number): string {
  return `${+(ms / 1000).toFixed(3)}s`;
}
