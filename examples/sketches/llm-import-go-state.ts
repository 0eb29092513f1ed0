import os from 'node:os';
import { importGoState } from 'ratekeeper/llm';

const report = await importGoState(ml, '~/.core/ratelimits.yaml'.replace('~', os.homedir()));
// { quotas, models: { 'gpt-4o': { requests, tokens, dayCount } }, expired }
