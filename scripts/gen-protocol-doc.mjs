#!/usr/bin/env node
/**
 * Regenerates the tables of docs/PROTOCOL.md from the one command table and the one
 * error table (STYLE habit 4). Run by hand after changing src/protocol/commands.ts or
 * src/common/errors.ts:
 *
 *   npx tsc -p tsconfig.json && node scripts/gen-protocol-doc.mjs
 *
 * Only the regions between `<!-- BEGIN GENERATED x -->` and `<!-- END GENERATED x -->`
 * are rewritten; the prose around them is kept. test/unit/protocol/docs-sync.test.ts
 * fails while the committed document and the source disagree.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const commands = await import(join(root, 'dist/protocol/commands.js'));
const { ERROR_CODES, EXIT } = await import(join(root, 'dist/common/errors.js'));
const DOC = join(root, 'docs/PROTOCOL.md');

/** Exported UPPER_CASE schemas of commands.ts (USER, PROFILE, ...) are named shapes. */
function isSchema(v) {
  return Array.isArray(v) && v.length > 0 && v.every((f) => Array.isArray(f) && f.length === 2 && typeof f[0] === 'string');
}
const shapes = Object.entries(commands).filter(([k, v]) => /^[A-Z_]+$/.test(k) && isSchema(v));
const shapeName = new Map(shapes.map(([k, v]) => [v, k]));

function describe(type) {
  if (typeof type === 'string') return type;
  if ('opt' in type) return `opt<${describe(type.opt)}>`;
  if ('list' in type) return `list<${describe(type.list)}>`;
  return shapeName.get(type.struct) ?? `{${type.struct.map(([n, t]) => `${n}: ${describe(t)}`).join(', ')}}`;
}

const fields = (schema) => (schema === undefined ? '—' : schema.length === 0 ? '(empty)' : schema.map(([n, t]) => `\`${n}: ${describe(t)}\``).join(', '));
const hex = (n) => `0x${n.toString(16).padStart(2, '0')}`;
const esc = (s) => s.replace(/\|/g, '\\|');

function shapesTable() {
  const out = [];
  for (const [name, schema] of shapes) {
    out.push(`#### ${name}`, '', '| # | Field | Type |', '|---|---|---|');
    schema.forEach(([f, t], i) => out.push(`| ${i + 1} | \`${f}\` | \`${describe(t)}\` |`));
    out.push('');
  }
  return out.join('\n').trimEnd();
}

function commandsTable() {
  const out = [
    '| Code | Reply | Name | Direction | Before login | Request / push fields | Reply fields | Meaning |',
    '|---|---|---|---|---|---|---|---|',
  ];
  const all = Object.values(commands.COMMANDS).sort((a, b) => a.code - b.code);
  for (const c of all) {
    const push = c.code >= 0x60; // pushes and ERROR: server to client, no reply
    out.push(`| ${hex(c.code)} | ${c.reply ? hex(c.code | commands.REPLY_BIT) : '—'} | ${c.name} | ${push ? 'S→C' : 'C→S'} | ${push ? '—' : c.beforeAuth ? 'yes' : 'no'} | ${fields(c.request)} | ${fields(c.reply)} | ${esc(c.doc)} |`);
  }
  return out.join('\n');
}

function errorsTable() {
  const exitName = new Map(Object.entries(EXIT).map(([k, v]) => [v, k]));
  const out = ['| Wire | Name | Exit | Meaning |', '|---|---|---|---|'];
  const rows = Object.entries(ERROR_CODES).sort((a, b) => a[1].wire - b[1].wire);
  for (const [name, e] of rows) out.push(`| ${e.wire} | ${name} | ${e.exit} (${exitName.get(e.exit)}) | ${esc(e.meaning)} |`);
  return out.join('\n');
}

const regions = { shapes: shapesTable(), commands: commandsTable(), errors: errorsTable() };
let doc = readFileSync(DOC, 'utf8');
for (const [name, body] of Object.entries(regions)) {
  const re = new RegExp(`(<!-- BEGIN GENERATED ${name} [^>]*-->)[\\s\\S]*?(<!-- END GENERATED ${name} -->)`);
  if (!re.test(doc)) throw new Error(`docs/PROTOCOL.md has no generated region "${name}"`);
  doc = doc.replace(re, (_m, begin, end) => `${begin}\n${body}\n${end}`);
}
writeFileSync(DOC, doc);
console.log(`docs/PROTOCOL.md: regenerated ${Object.keys(regions).join(', ')}`);
