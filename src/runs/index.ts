export { chooseEndpoint, type EndpointChoice, endpointRequest } from './endpoint.js';
export type { RunHandler, RunJob, RunJobContext } from './handler.js';
export { importRedisList, type RedisListImport } from './redis-list.js';
export { formatRun, processedCount } from './report.js';
export {
  type Recurring,
  type RunHandle,
  type RunJobInput,
  Runs,
  type RunsOptions,
} from './runs.js';
export { decideWorkers, type ScalingDecision, type ScalingInput } from './scaling.js';
export { backlogQueue, endpointScope, runSettings } from './settings.js';
export { MemoryRunStore, RedisRunStore, type RunStore, SqliteRunStore } from './store/index.js';
export type { RunDefinition, RunJobType, RunRecord, RunSettings, RunStatus } from './types.js';
