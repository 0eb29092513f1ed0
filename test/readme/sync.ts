/** `npx tsx test/readme/sync.ts`: rewrites the README's example blocks from the files in examples/. */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { synced } from './blocks.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const readme = join(root, 'README.md');
const read = (file: string) =>
  existsSync(join(root, file)) ? readFileSync(join(root, file), 'utf8') : undefined;
const before = readFileSync(readme, 'utf8');
const after = synced(before, read);
if (after !== before) writeFileSync(readme, after);
console.log(after === before ? 'README.md already matches examples/' : 'README.md updated from examples/');
