import type { AlgorithmName } from '../core/types.js';

/**
 * The number each algorithm is known by in stored states and in Redis script arguments. A persisted state
 * records the algorithm that wrote it by this number (SQLite: its BLOB's last byte; Redis: see
 * `lua/includes/limits/state.lua`), so that a rule which keeps its name but changes its algorithm never reads
 * the other algorithm's numbers. Never renumbered: stored states carry them.
 */
export const ALGORITHM_CODE: Readonly<Record<AlgorithmName, number>> = {
  'sliding-window': 1,
  'token-bucket': 2,
  'fixed-window': 3,
  'anchored-window': 4,
};
