import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { limitedFetch } from 'ratekeeper/llm';

const fetch = limitedFetch({ limiter: ml /*, fetch, defaultOutputTokens: 1024, maxRetries: 3, onEvent */ });
const openai = new OpenAI({ fetch, maxRetries: 0 }); // let limitedFetch do the waiting and retrying
const anthropic = new Anthropic({ fetch, maxRetries: 0 });
