// Copies the repository's licence files next to package.json so the .vsix carries them
// (.vscodeignore keeps LICENSE*); they are build outputs here, ignored by git.
import { copyFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ext = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const name of ['LICENSE-MIT', 'LICENSE-APACHE']) {
  copyFileSync(join(ext, '..', '..', name), join(ext, name));
}
