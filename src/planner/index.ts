export { plan } from './plan.js';
export type { Bottleneck, Plan, PlanEndpoint, PlanInput, PlanJobType, TypePlan } from './types.js';
