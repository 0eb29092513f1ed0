import type { AlgorithmName } from '../core/types.js';

/**
 * The number each algorithm is known by outside TypeScript: in Redis script arguments (the Lua mirrors index
 * their algorithms by it). Never renumbered.
 */
export const ALGORITHM_CODE: Readonly<Record<AlgorithmName, number>> = {
  'sliding-window': 1,
  'token-bucket': 2,
  'fixed-window': 3,
  'anchored-window': 4,
};
