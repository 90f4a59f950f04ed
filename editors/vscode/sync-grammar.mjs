// Copies the TextMate grammar (editors/textmate/sslp.tmLanguage.json, the one
// source) into this extension, which may only ship files from its own folder.
// tests/grammar.rs fails when the copy differs: run `node sync-grammar.mjs`.
import { copyFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
mkdirSync(join(here, 'syntaxes'), { recursive: true });
copyFileSync(join(here, '..', 'textmate', 'sslp.tmLanguage.json'), join(here, 'syntaxes', 'sslp.tmLanguage.json'));
console.log('copied editors/textmate/sslp.tmLanguage.json to editors/vscode/syntaxes/');
