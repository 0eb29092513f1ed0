import { plan } from 'ratekeeper';

const p = plan({
  deadline: '3m',
  maxWorkers: 20,
  types: {
    REBALANCE_NEEDED: {
      backlog: 300,
      duration: '2s',
      endpoints: [
        { name: 'rebalance', limit: 30, window: '1m' },
        { name: 'rebalance-overflow-1', limit: 30, window: '1m' },
      ],
    },
    NEW_BALANCE_UPDATE: {
      backlog: 80,
      duration: '800ms',
      endpoints: [{ name: 'balance', limit: 30, window: '1m' }],
    },
  },
  leftovers: { REBALANCE_NEEDED: 12 },
  // start: Date.now(),   // optional: makes the plan exact for that start (see "Exact or a bound")
});
console.dir(p, { depth: null });
// { feasible: false, workers: 4, finishMs: 160600, leftover: 132,
//   bottleneck: { kind: 'rate', type: 'REBALANCE_NEEDED', endpoint: 'rebalance' }, exact: false, deadlineMs: 180000,
//   types: { REBALANCE_NEEDED: { jobs: 312, workers: 3, finishMs: 160600, leftover: 132,
//                                endpoints: { rebalance: 90, 'rebalance-overflow-1': 90 } },
//            NEW_BALANCE_UPDATE: { jobs: 80, workers: 1, finishMs: 136600, leftover: 0, endpoints: { balance: 80 } } } }
