/**
 * Keeps docs/PROTOCOL.md, the command table and the error table in step (STYLE habit 4).
 * When this fails after a change to commands.ts or errors.ts, regenerate the document:
 *   npx tsc -p tsconfig.json && node scripts/gen-protocol-doc.mjs
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES, EXIT, errorCodeFromWire, type ErrorCode } from '../../../src/common/errors.js';
import type { FieldType, Schema } from '../../../src/protocol/codec.js';
import * as commands from '../../../src/protocol/commands.js';
import { COMMAND_BY_CODE, COMMANDS, ERROR_CODE, PROTOCOL_VERSION, REPLY_BIT, isPushCode, type CommandSpec } from '../../../src/protocol/commands.js';
import { DEFAULT_MAX_FRAME } from '../../../src/protocol/frame.js';

const DOC = readFileSync(fileURLToPath(new URL('../../../docs/PROTOCOL.md', import.meta.url)), 'utf8');
const SPECS = Object.values(COMMANDS) as CommandSpec[];

/** Rows of the markdown table in the generated region `name`, header and rule dropped. */
function region(name: string): string {
  const m = new RegExp(`<!-- BEGIN GENERATED ${name} [^>]*-->([\\s\\S]*?)<!-- END GENERATED ${name} -->`).exec(DOC);
  if (!m) throw new Error(`docs/PROTOCOL.md: no generated region "${name}"`);
  return m[1];
}
function rows(text: string): string[][] {
  return text.split('\n').filter((l) => l.startsWith('|')).slice(2)
    .map((l) => l.split(/(?<!\\)\|/).slice(1, -1).map((c) => c.trim().replace(/\\\|/g, '|')));
}
/** A cell like "`a: u8`, `b: opt<str>`" as [['a','u8'], ['b','opt<str>']]; "(empty)" is []. */
function fieldCell(cell: string): [string, string][] | undefined {
  if (cell === '—') return undefined;
  if (cell === '(empty)') return [];
  return [...cell.matchAll(/`([^`]+)`/g)].map((m) => {
    const i = m[1].indexOf(': ');
    return [m[1].slice(0, i), m[1].slice(i + 2)];
  });
}

// Exported UPPER_CASE schemas are the named shapes of section 4.
const SHAPES = Object.entries(commands).filter(([k, v]) => /^[A-Z_]+$/.test(k) && Array.isArray(v) && v.length > 0) as [string, Schema][];
const SHAPE_NAME = new Map<Schema, string>(SHAPES.map(([k, v]) => [v, k]));
function typeName(t: FieldType): string {
  if (typeof t === 'string') return t;
  if ('opt' in t) return `opt<${typeName(t.opt)}>`;
  if ('list' in t) return `list<${typeName(t.list)}>`;
  return SHAPE_NAME.get(t.struct) ?? `{${t.struct.map(([n, f]) => `${n}: ${typeName(f)}`).join(', ')}}`;
}
const fieldsOf = (s: Schema | undefined) => s?.map(([n, t]) => [n, typeName(t)]);
const hex = (n: number) => `0x${n.toString(16).padStart(2, '0')}`;

describe('docs/PROTOCOL.md command table', () => {
  const table = new Map(rows(region('commands')).map((r) => [r[2], r]));

  it('lists exactly the commands of COMMANDS', () => {
    expect([...table.keys()].sort()).toEqual(SPECS.map((s) => s.name).sort());
    expect(rows(region('commands'))).toHaveLength(SPECS.length);
  });

  it.each(SPECS.map((s) => [s.name, s] as const))('%s: codes, direction, fields and text match', (name, s) => {
    const [code, reply, , direction, beforeAuth, request, replyFields, doc] = table.get(name)!;
    const server = s.code >= 0x60;
    expect(code).toBe(hex(s.code));
    expect(reply).toBe(s.reply ? hex(s.code | REPLY_BIT) : '—');
    expect(direction).toBe(server ? 'S→C' : 'C→S');
    expect(beforeAuth).toBe(server ? '—' : s.beforeAuth ? 'yes' : 'no');
    expect(fieldCell(request)).toEqual(fieldsOf(s.request));
    expect(fieldCell(replyFields)).toEqual(fieldsOf(s.reply));
    expect(doc).toBe(s.doc);
  });

  it('documents every shared shape with its fields in order', () => {
    const text = region('shapes');
    const documented = [...text.matchAll(/^#### (\w+)$/gm)].map((m) => m[1]);
    expect(documented.sort()).toEqual(SHAPES.map(([k]) => k).sort());
    for (const [name, schema] of SHAPES) {
      const body = text.split(`#### ${name}\n`)[1].split('####')[0];
      const got = rows(body).map(([, f, t]) => [f.replace(/`/g, ''), t.replace(/`/g, '')]);
      expect(got, name).toEqual(fieldsOf(schema));
    }
  });

  it('states the current protocol version and default frame limit', () => {
    expect(DOC).toContain(`Protocol version: **${PROTOCOL_VERSION}**`);
    expect(DEFAULT_MAX_FRAME).toBe(1048576);
    expect(DOC).toMatch(/Frame payload size[^\n]*1 048 576 bytes/);
  });
});

describe('docs/PROTOCOL.md error table', () => {
  const NAMES = Object.keys(ERROR_CODES) as ErrorCode[];
  const table = rows(region('errors'));

  it('lists exactly the codes of ERROR_CODES with wire number, exit code and meaning', () => {
    expect(table.map((r) => r[1]).sort()).toEqual([...NAMES].sort());
    for (const [wire, name, exit, meaning] of table) {
      const e = ERROR_CODES[name as ErrorCode];
      expect(Number(wire), name).toBe(e.wire);
      expect(Number.parseInt(exit, 10), name).toBe(e.exit);
      expect(meaning, name).toBe(e.meaning);
    }
  });
});

describe('command table invariants', () => {
  it('keys equal names and codes are unique', () => {
    for (const [key, s] of Object.entries(COMMANDS)) expect(s.name).toBe(key);
    expect(new Set(SPECS.map((s) => s.code)).size).toBe(SPECS.length);
    expect(COMMAND_BY_CODE.size).toBe(SPECS.length);
  });

  it('requests are 0x01-0x5F with a reply, pushes 0x60-0x7E without, ERROR is 0x7F', () => {
    for (const s of SPECS) {
      if (s.name === 'ERROR') {
        expect(s.code).toBe(0x7f);
        expect(s.code).toBe(ERROR_CODE);
        expect(s.reply).toBeUndefined();
      } else if (s.reply) {
        expect(s.code, s.name).toBeGreaterThanOrEqual(0x01);
        expect(s.code, s.name).toBeLessThanOrEqual(0x5f);
        expect(isPushCode(s.code), s.name).toBe(false);
        const reply = s.code | REPLY_BIT;
        expect(reply >= 0x81 && reply <= 0xdf, s.name).toBe(true);
      } else {
        expect(s.code, s.name).toBeGreaterThanOrEqual(0x60);
        expect(s.code, s.name).toBeLessThanOrEqual(0x7e);
        expect(isPushCode(s.code), s.name).toBe(true);
        expect(s.beforeAuth, s.name).toBeUndefined();
      }
    }
  });
});

describe('error table invariants', () => {
  const NAMES = Object.keys(ERROR_CODES) as ErrorCode[];

  it('wire numbers are unique u16 values and map back to their code', () => {
    const wires = NAMES.map((n) => ERROR_CODES[n].wire);
    expect(new Set(wires).size).toBe(wires.length);
    for (const n of NAMES) {
      const w = ERROR_CODES[n].wire;
      expect(Number.isInteger(w) && w > 0 && w <= 0xffff, n).toBe(true);
      expect(errorCodeFromWire(w)).toBe(n);
    }
    expect(errorCodeFromWire(65535)).toBe('CHAT_ERR_INTERNAL');
  });

  it('names follow CHAT_ERR_* and exit codes are SPEC §2 exit codes', () => {
    const exits = new Set<number>(Object.values(EXIT));
    for (const n of NAMES) {
      expect(n).toMatch(/^CHAT_ERR_[A-Z_]+$/);
      expect(exits.has(ERROR_CODES[n].exit), n).toBe(true);
      expect(ERROR_CODES[n].exit, n).not.toBe(EXIT.OK);
    }
  });
});
