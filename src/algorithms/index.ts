import type { AlgorithmName } from '../core/types.js';
import { anchoredWindow } from './anchored-window.js';
import { fixedWindow } from './fixed-window.js';
import { slidingWindow } from './sliding-window.js';
import { tokenBucket } from './token-bucket.js';
import type { Algorithm } from './types.js';

export { anchoredWindow } from './anchored-window.js';
export { fixedWindow } from './fixed-window.js';
export { SLIDING_SUBWINDOWS, slidingStep, slidingWindow } from './sliding-window.js';
export { tokenBucket } from './token-bucket.js';
export type { Algorithm, RuleState } from './types.js';

/** The algorithms by name. */
export const algorithms: Readonly<Record<AlgorithmName, Algorithm>> = {
  'sliding-window': slidingWindow,
  'token-bucket': tokenBucket,
  'fixed-window': fixedWindow,
  'anchored-window': anchoredWindow,
};
