/** `npx tsx test/readme/sync.ts`: rewrites the READMEs' example and sketch blocks from their files. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readmes, synced } from './blocks.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (file: string) =>
  existsSync(join(root, file)) ? readFileSync(join(root, file), 'utf8') : undefined;
for (const name of readmes(root)) {
  const before = readFileSync(join(root, name), 'utf8');
  const after = synced(before, read);
  if (after !== before) writeFileSync(join(root, name), after);
  console.log(after === before ? `${name} already matches its files` : `${name} updated from its files`);
}
