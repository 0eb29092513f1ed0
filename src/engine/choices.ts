import { InvalidArgumentError } from '../core/errors.js';
import type { Decision } from '../core/types.js';
import type { Choice, Plan } from './plan.js';

/**
 * Endpoint pools: a request admitted on its own scopes plus exactly one of several alternatives.
 *
 * The limiter builds the plan ({@link poolPlan}) with its alternatives in the order to try; every store
 * decides it with {@link decideChoices} (memory, SQLite inside one transaction) or its Lua mirror
 * (`limits/decide.lua`, one script): the first choice that fits is admitted and charged, and nothing else
 * is; when none fits, the answer is the one that would admit first.
 */

/**
 * The plan of a request with alternatives: `base` (the request's own scopes) and, per alternative, a choice
 * charging `base` plus that alternative, in the order given by `order` (indexes into `alternatives`).
 * @throws InvalidArgumentError when an alternative names one of the request's own scopes.
 */
export function poolPlan(base: Plan, alternatives: readonly Plan[], order: readonly number[]): Plan {
  if (alternatives.length === 0) {
    throw new InvalidArgumentError('alternatives', 'a non-empty array of { scopes, cost?, costs? }', []);
  }
  const choices: Choice[] = [];
  for (const index of order) {
    const alternative = alternatives[index]!;
    for (const scope of alternative.scopes) {
      if (base.scopes.includes(scope)) {
        throw new InvalidArgumentError(
          `alternatives[${index}].scopes`,
          "scopes other than the request's own (those are always charged)",
          scope,
        );
      }
    }
    choices.push({
      alternative: index,
      plan: {
        scopes: [...base.scopes, ...alternative.scopes],
        items: [...base.items, ...alternative.items],
      },
    });
  }
  return { scopes: base.scopes, items: base.items, choices };
}

/**
 * Decides the choices of a pooled plan in order with `decide` (which charges a plan only when it admits
 * it): the first admitted wins; when all are refused, the one with the shortest wait (the first of equals)
 * is reported. Either way the decision names its alternative.
 */
export function decideChoices(choices: readonly Choice[], decide: (plan: Plan) => Decision): Decision {
  let best: Decision | undefined;
  let bestAlternative = -1;
  for (const choice of choices) {
    const decision = decide(choice.plan);
    if (decision.allowed) return { ...decision, alternative: choice.alternative };
    if (best === undefined || decision.retryAfterMs < best.retryAfterMs) {
      best = decision;
      bestAlternative = choice.alternative;
    }
  }
  return { ...best!, alternative: bestAlternative };
}

/** The plan a decision charged (or would charge): its alternative's choice, or the plan itself. */
export function chosenPlan(plan: Plan, decision: Decision): Plan {
  if (plan.choices === undefined || decision.alternative === undefined) return plan;
  return plan.choices.find((c) => c.alternative === decision.alternative)?.plan ?? plan;
}
