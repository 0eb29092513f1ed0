import type { RunRecord } from './types.js';

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}

/** Jobs a run finished, summed over types and endpoints. */
export function processedCount(record: RunRecord, type?: string): number {
  let n = 0;
  for (const [t, endpoints] of Object.entries(record.processed))
    if (type === undefined || t === type) for (const count of Object.values(endpoints)) n += count;
  return n;
}

/** A run's record for people: status, times planned vs actual, per type and endpoint, leftovers. */
export function formatRun(record: RunRecord): string {
  const lines: string[] = [];
  const took = (record.finishedAt ?? record.actualFinishAt ?? record.startedAt) - record.startedAt;
  lines.push(
    `Run ${record.id}: ${record.status}${record.cancelRequested && record.status === 'running' ? ' (cancelling)' : ''}`,
  );
  lines.push(
    `started ${new Date(record.startedAt).toISOString()}, deadline ${seconds(record.input.deadlineMs)}, ` +
      `planned finish ${seconds(record.plannedFinishAt - record.startedAt)}, actual finish ` +
      `${record.actualFinishAt === null ? '-' : seconds(record.actualFinishAt - record.startedAt)}` +
      (record.finishedAt === null ? '' : `, stopped after ${seconds(took)}`),
  );
  lines.push('');
  const rows: string[][] = [['TYPE', 'PLANNED', 'DONE', 'CARRIED IN', 'LEFTOVER']];
  for (const type of Object.keys(record.input.types)) {
    const planned = record.plan.types[type];
    rows.push([
      type,
      String(planned ? planned.jobs - planned.leftover : 0),
      String(processedCount(record, type)),
      String(record.carriedIn[type] ?? 0),
      String(record.leftovers[type] ?? 0),
    ]);
    for (const endpoint of record.input.types[type]!.endpoints)
      rows.push([
        `  ${endpoint.name}`,
        String(planned?.endpoints[endpoint.name] ?? 0),
        String(record.processed[type]?.[endpoint.name] ?? 0),
        '',
        '',
      ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const row of rows)
    lines.push(
      row
        .map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
        .join('  ')
        .trimEnd(),
    );
  lines.push('');
  lines.push(
    `failures ${record.failures} (retried or dead-lettered), dead-lettered ${record.deadLettered}, ` +
      `re-plans ${record.replans}, leftovers ${Object.values(record.leftovers).reduce((a, b) => a + b, 0)}` +
      ' (the next run takes them first)',
  );
  return `${lines.join('\n')}\n`;
}
