import { Runs, SqliteBackend } from 'ratekeeper';

const runs = new Runs({ backend: new SqliteBackend({ path: './ratekeeper.db' }) });
await runs.enqueue('REBALANCE_NEEDED', [{ id: 'w1', payload: { wallet: '0x…' } }]);
const run = await runs.start(
  {
    deadline: '3m',
    maxWorkers: 20,
    types: {
      REBALANCE_NEEDED: {
        duration: '2s',
        endpoints: [
          { name: 'rebalance', limit: 30, window: '1m' },
          { name: 'rebalance-overflow-1', limit: 30, window: '1m' },
        ],
      },
    },
  },
  async (job, { endpoint, attempt, signal }) => callApi(endpoint, job.payload, { signal }),
);
const result = await run.done;
// { id, status: 'finished', plan, processed: { REBALANCE_NEEDED: { rebalance: 90, … } }, failures,
//   deadLettered, carriedIn, leftovers: { REBALANCE_NEEDED: 12 }, plannedFinishAt, actualFinishAt, … }
await runs.list();
await runs.get(run.id);
await runs.cancel(run.id);
