const r = await ml.reserve('gpt-4o', promptTokens + maxTokens, { signal, timeout: '1m' });
try {
  const res = await openai.chat.completions.create(body);
  // The charge becomes the real usage (the estimate stays when the answer reports none).
  if (res.usage) await r.commit(res.usage.prompt_tokens, res.usage.completion_tokens);
  else await r.commit(promptTokens + maxTokens);
} catch (error) {
  await r.release(); // the call never reached the receiver: request and tokens given back
  throw error;
}
