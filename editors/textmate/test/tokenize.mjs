// Tokenises every .sslp file of the repository (examples/, pipelines/, stdlib/)
// with editors/textmate/sslp.tmLanguage.json, the way VS Code does
// (vscode-textmate + the Oniguruma regex engine compiled to WebAssembly), and
// fails when a token that an independent lexer here recognises as a comment,
// string, number, keyword or registry kind name gets no specific scope.
//
//   node tokenize.mjs [--kinds KINDS.json] [FILE.sslp ...]
//
// KINDS.json maps a scope suffix to the registry's kind names
// ({"op": ["rotate", ...], ...}); tests/grammar.rs writes it from the registry.
// Without it the names are read from the grammar itself (tests/grammar.rs
// checks separately that those lists equal the registry). Without FILE
// arguments the repository's .sslp files are checked, plus the targeted
// cases in CASES below.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import vsctm from 'vscode-textmate';
import oniguruma from 'vscode-oniguruma';

const here = dirname(fileURLToPath(import.meta.url));
const repo = join(here, '..', '..', '..');
const grammarPath = join(here, '..', 'sslp.tmLanguage.json');
const require = createRequire(import.meta.url);

// ------------------------------------------------------------------ the language, independently

/** Reserved words: never names (grammar/sslp.pest, `keyword`, plus `step` after a range). */
const RESERVED = new Set(['use', 'as', 'set', 'sweep', 'zip', 'exclude', 'true', 'false']);
/** Declaration keywords (grammar/sslp.pest, `decl_kind`): keywords only before a name. */
const DECL_KINDS = new Set([
  'dataset', 'split', 'policy', 'backbone', 'method', 'optimizer', 'schedule',
  'pretrain', 'evaluate', 'report', 'let',
]);

/** A line's lexemes: {kind, text, start, end}; kind is comment|string|number|ident|range|other. */
function lex(line) {
  const out = [];
  const rules = [
    ['comment', /#.*/y],
    ['string', /"(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?/y],
    ['ident', /[A-Za-z_][A-Za-z0-9_]*/y],
    ['number', /-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?/y],
    ['range', /\.\.=?/y],
    ['space', /\s+/y],
    ['other', /./y],
  ];
  let i = 0;
  while (i < line.length) {
    for (const [kind, re] of rules) {
      re.lastIndex = i;
      const m = re.exec(line);
      if (m) {
        if (kind !== 'space') out.push({ kind, text: m[0], start: i, end: i + m[0].length });
        i += m[0].length;
        break;
      }
    }
  }
  return out;
}

/** Scopes that say nothing about a token: the file's own and the regions around it. */
const unspecific = (s) => s === 'source.sslp' || s.startsWith('meta.');

/**
 * What a lexeme must be scoped as: a predicate over one scope and a
 * description, or null when the lexeme is not checked.
 */
function expectation(lexemes, k, kinds) {
  const t = lexemes[k];
  const next = lexemes[k + 1];
  const prev = lexemes[k - 1];
  const prev2 = lexemes[k - 2];
  switch (t.kind) {
    case 'comment':
      return [(s) => s.startsWith('comment.line.number-sign.sslp'), 'a comment'];
    case 'string':
      return [(s) => s.startsWith('string.quoted.'), 'a string'];
    case 'number':
      return [(s) => s.startsWith('constant.numeric.'), 'a number'];
    case 'ident': {
      if (RESERVED.has(t.text)) {
        return [(s) => s.startsWith('keyword.') || s.startsWith('constant.language.'), 'a keyword'];
      }
      // `0.1..1.0 step 0.1`: number, range, number, `step`.
      if (t.text === 'step' && prev?.kind === 'number' && prev2?.kind === 'range'
          && lexemes[k - 3]?.kind === 'number') {
        return [(s) => s.startsWith('keyword.other.step.sslp'), 'the keyword `step`'];
      }
      if (DECL_KINDS.has(t.text) && k === 0 && next?.kind === 'ident') {
        return [(s) => s.startsWith('keyword.declaration.sslp'), 'a declaration keyword'];
      }
      const cat = kinds.get(t.text);
      if (cat && next?.text === '(') {
        return [(s) => s === `support.function.${cat}.sslp`, `a call of a ${cat} kind`];
      }
      if (cat || DECL_KINDS.has(t.text)) {
        return [(s) => !unspecific(s), 'a kind name or declaration keyword'];
      }
      return null;
    }
    default:
      return null;
  }
}

// ------------------------------------------------------------------ the grammar, as VS Code runs it

async function loadGrammar() {
  const wasm = readFileSync(require.resolve('vscode-oniguruma/release/onig.wasm'));
  await oniguruma.loadWASM(wasm.buffer.slice(wasm.byteOffset, wasm.byteOffset + wasm.byteLength));
  const registry = new vsctm.Registry({
    onigLib: Promise.resolve({
      createOnigScanner: (patterns) => new oniguruma.OnigScanner(patterns),
      createOnigString: (s) => new oniguruma.OnigString(s),
    }),
    loadGrammar: async (scopeName) => {
      if (scopeName !== 'source.sslp') return null;
      return vsctm.parseRawGrammar(readFileSync(grammarPath, 'utf8'), grammarPath);
    },
  });
  return registry.loadGrammar('source.sslp');
}

/** Per line, the grammar's tokens: {start, end, scopes}. */
function tokenizeText(grammar, text) {
  let stack = vsctm.INITIAL;
  return text.split(/\r?\n/).map((line) => {
    const r = grammar.tokenizeLine(line, stack);
    stack = r.ruleStack;
    return { line, tokens: r.tokens.map((t) => ({ start: t.startIndex, end: t.endIndex, scopes: t.scopes })) };
  });
}

/** Problems in one text, as strings; `counts` tallies the checked lexemes by kind. */
function check(grammar, name, text, kinds, counts) {
  const problems = [];
  tokenizeText(grammar, text).forEach(({ line, tokens }, row) => {
    const lexemes = lex(line);
    lexemes.forEach((lexeme, k) => {
      const want = expectation(lexemes, k, kinds);
      if (!want) return;
      const [ok, what] = want;
      counts[lexeme.kind] = (counts[lexeme.kind] ?? 0) + 1;
      for (const tok of tokens) {
        if (tok.end <= lexeme.start || tok.start >= lexeme.end) continue;
        if (!tok.scopes.some(ok)) {
          problems.push(
            `${name}:${row + 1}:${lexeme.start + 1}: \`${lexeme.text}\` should be ${what}, ` +
            `but \`${line.slice(tok.start, tok.end)}\` is scoped ${tok.scopes.join(' ')}`,
          );
          break;
        }
      }
    });
  });
  return problems;
}

// ------------------------------------------------------------------ targeted cases

/**
 * Constructs whose scope depends on context: [source, token, occurrence, scope].
 * The token's `occurrence`-th appearance in the source must carry `scope`.
 */
const CASES = [
  ['set executor = slurm(pretrain: resources(cpus: 4))', 'pretrain', 1, 'variable.parameter.sslp'],
  ['set executor = slurm(pretrain: resources(cpus: 4))', 'resources', 1, 'support.function.executor.sslp'],
  ['set executor = slurm(pretrain: resources(cpus: 4))', 'executor', 1, 'variable.other.setting.sslp'],
  ['pretrain ssl {\n  method = simclr()\n}', 'pretrain', 1, 'keyword.declaration.sslp'],
  ['pretrain ssl {\n  method = simclr()\n}', 'ssl', 1, 'entity.name.type.declaration.sslp'],
  ['pretrain ssl {\n  method = simclr()\n}', 'method', 1, 'variable.other.property.field.sslp'],
  ['pretrain ssl {\n  method = simclr()\n}', 'simclr', 1, 'support.function.method.sslp'],
  ['pretrain p {\n  exclude(method: byol)\n}', 'exclude', 1, 'keyword.other.directive.sslp'],
  ['pretrain p {\n  exclude(method: byol)\n}', 'method', 1, 'variable.parameter.sslp'],
  ['pretrain p {\n  exclude(method: byol)\n}', 'byol', 1, 'support.function.method.sslp'],
  ['policy p = [rotate(degrees: 30.0) @ 0.5]', '@', 1, 'keyword.operator.probability.sslp'],
  ['policy p = [rotate(degrees: 30.0) @ 0.5]', '0.5', 1, 'constant.numeric.probability.sslp'],
  ['policy p = [rotate(degrees: 30.0) @ 0.5]', 'degrees', 1, 'variable.parameter.sslp'],
  ['policy h = a ++ [solarize() @ 0.1]', '++', 1, 'keyword.operator.concat.sslp'],
  ['let s = multicrop(global_scale: 0.3..1.0)', '..', 1, 'keyword.operator.range.sslp'],
  ['let s = multicrop(global_scale: 0.3..1.0)', '1.0', 1, 'constant.numeric.float.sslp'],
  ['let lr = sweep 0.1..=1.0 step 0.1', 'step', 1, 'keyword.other.step.sslp'],
  ['let lr = sweep 0.1..=1.0 step 0.1', '..=', 1, 'keyword.operator.range.sslp'],
  ['schedule s = step(milestones: [30])', 'step', 1, 'support.function.schedule.sslp'],
  ['let k = sweep [1, 2]', '2', 1, 'constant.numeric.integer.sslp'],
  ['use std::policies::{a, b as c}', 'policies', 1, 'entity.name.namespace.sslp'],
  ['use std::policies::{a, b as c}', 'as', 1, 'keyword.control.import.as.sslp'],
  ['use std::policies::{a, b as c}', 'c', 1, 'variable.other.import.alias.sslp'],
  ['use std::policies::{\n  a,\n  b,\n}\ndataset d = mnist()', 'b', 1, 'variable.other.import.sslp'],
  ['use std::policies::{\n  a,\n  b,\n}\ndataset d = mnist()', 'dataset', 1, 'keyword.declaration.sslp'],
  ['use "lib/common.sslp"::{parts}', '"lib/common.sslp"', 1, 'string.quoted.double.sslp'],
  ['report r = table(metrics: [lin.top1], rows: ssl.seed)', 'top1', 1, 'variable.other.member.sslp'],
  ['report r = table(metrics: [lin.top1], rows: ssl.seed)', 'table', 1, 'support.function.report.sslp'],
  ['dataset d = image_folder(path: "a\\"b") # c', '\\"', 1, 'constant.character.escape.sslp'],
  ['dataset d = image_folder(path: "a\\"b") # c', '# c', 1, 'comment.line.number-sign.sslp'],
  ['backbone b = resnet_18()', 'resnet_18', 1, 'entity.name.function.call.sslp'],
  ['split parts {\n  data = shapes, train = 0.75\n}', 'train', 1, 'variable.other.property.field.sslp'],
  ['evaluate e = knn(backbone: tiny_convnet(), k: 20, features: true)', 'true', 1, 'constant.language.boolean.sslp'],
];

function checkCases(grammar) {
  const problems = [];
  for (const [src, token, occurrence, scope] of CASES) {
    // A word is found as a whole word (`c` is not the `c` of `policies`).
    const escaped = token.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const re = new RegExp(/^\w+$/.test(token) ? `\\b${escaped}\\b` : escaped, 'g');
    let at = -1;
    for (let n = 0; n < occurrence; n++) {
      const m = re.exec(src);
      at = m ? m.index : -1;
      if (!m) break;
    }
    if (at < 0) {
      problems.push(`case ${JSON.stringify(src)}: no \`${token}\` in it`);
      continue;
    }
    const before = src.slice(0, at).split('\n');
    const row = before.length - 1;
    const col = before[row].length;
    const { tokens } = tokenizeText(grammar, src)[row];
    const bad = tokens.filter((t) => t.end > col && t.start < col + token.length && !t.scopes.includes(scope));
    if (bad.length > 0) {
      problems.push(
        `case ${JSON.stringify(src)}: \`${token}\` should be ${scope}, is ${bad[0].scopes.join(' ')}`,
      );
    }
  }
  return problems;
}

// ------------------------------------------------------------------ driver

function sslpFiles(dir, out = []) {
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) sslpFiles(path, out);
    else if (entry.endsWith('.sslp')) out.push(path);
  }
  return out;
}

/** Kind name -> scope suffix, from --kinds or from the grammar's own lists. */
function kindNames(kindsFile) {
  const map = new Map();
  if (kindsFile) {
    for (const [cat, names] of Object.entries(JSON.parse(readFileSync(kindsFile, 'utf8')))) {
      for (const n of names) map.set(n, cat);
    }
    return map;
  }
  const grammar = JSON.parse(readFileSync(grammarPath, 'utf8'));
  for (const p of grammar.repository['kind-name'].patterns) {
    const cat = p.name.replace(/^support\.function\./, '').replace(/\.sslp$/, '');
    const m = /^\\b\(\?:(.*)\)\\b$/.exec(p.match);
    for (const n of m ? m[1].split('|') : []) map.set(n, cat);
  }
  return map;
}

async function main() {
  const args = process.argv.slice(2);
  let kindsFile = null;
  const files = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--kinds') kindsFile = args[++i];
    else files.push(args[i]);
  }
  const started = Date.now();
  const kinds = kindNames(kindsFile);
  const grammar = await loadGrammar();
  const targets = files.length > 0
    ? files
    : ['examples', 'pipelines', 'stdlib'].flatMap((d) => sslpFiles(join(repo, d)));
  const counts = {};
  const problems = [];
  for (const f of targets) {
    problems.push(...check(grammar, relative(repo, f), readFileSync(f, 'utf8'), kinds, counts));
  }
  if (files.length === 0) problems.push(...checkCases(grammar));
  const tally = Object.entries(counts).map(([k, n]) => `${n} ${k}`).join(', ');
  console.log(
    `tokenised ${targets.length} files with ${kinds.size} kind names` +
    `${files.length === 0 ? ` and ${CASES.length} targeted cases` : ''}: checked ${tally} (${Date.now() - started} ms)`,
  );
  if (problems.length > 0) {
    console.log(`${problems.length} problem(s):`);
    for (const p of problems) console.log(`  ${p}`);
    process.exit(1);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
