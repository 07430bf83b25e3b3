import { describe, expect, it } from 'vitest';
import { complete, type Sources } from '../../../src/client/interactive/complete.js';
import { lineOf, lineText } from '../../../src/client/interactive/editor.js';

const sources: Sources = {
  groups: ['ops', 'operations', 'dev', 'design'],
  joined: ['ops', 'dev'],
  users: ['alice', 'albert', 'bob'],
  files: ['report.pdf', 'readme.txt'],
  paths: (prefix) => ['docs/', 'docs.txt', 'src/'].filter((p) => p.startsWith(prefix)),
};

/** Completes `text` with the cursor at `|` (or the end) and shows the cursor as `|`. */
function tab(text: string, s: Sources = sources): { line: string; options: string[] } {
  const at = text.indexOf('|');
  const line = at < 0 ? lineOf(text) : lineOf(text.replace('|', ''), at);
  const c = complete(line, s);
  const t = lineText(c.line);
  return { line: `${t.slice(0, c.line.cursor)}|${t.slice(c.line.cursor)}`, options: c.options };
}

describe('Tab completion', () => {
  it('commands: one match completes with a space, several extend or list', () => {
    expect(tab('/jo')).toEqual({ line: '/join |', options: [] });
    expect(tab('/h')).toEqual({ line: '/h|', options: ['/help', '/history'] });
    expect(tab('/')).toMatchObject({ line: '/|' });
    expect(tab('/').options).toContain('/quit');
    expect(tab('/zz')).toEqual({ line: '/zz|', options: [] });
  });

  it('/join offers every visible group, /switch and /leave only joined ones', () => {
    expect(tab('/join op')).toEqual({ line: '/join op|', options: ['operations', 'ops'] });
    expect(tab('/join ope')).toEqual({ line: '/join operations |', options: [] });
    expect(tab('/join de')).toEqual({ line: '/join de|', options: ['design', 'dev'] });
    expect(tab('/switch de')).toEqual({ line: '/switch dev |', options: [] });
    expect(tab('/leave #o')).toEqual({ line: '/leave #ops |', options: [] });
  });

  it('user names after /msg and as mentions in text; a common beginning extends', () => {
    expect(tab('/msg b')).toEqual({ line: '/msg bob |', options: [] });
    expect(tab('/msg @b')).toEqual({ line: '/msg @bob |', options: [] });
    expect(tab('/msg a')).toEqual({ line: '/msg al|', options: [] });
    expect(tab('/msg al')).toEqual({ line: '/msg al|', options: ['albert', 'alice'] });
    expect(tab('thanks bo')).toEqual({ line: 'thanks bob |', options: [] });
    expect(tab('/msg bob thanks ali')).toEqual({ line: '/msg bob thanks alice |', options: [] });
    expect(tab('thanks ')).toEqual({ line: 'thanks |', options: [] });
  });

  it('in the middle of a line only the word before the cursor is completed', () => {
    expect(tab('/msg b| hello')).toEqual({ line: '/msg bob| hello', options: [] });
  });

  it('files for /get, paths for /upload (a directory gets no space)', () => {
    expect(tab('/get rep')).toEqual({ line: '/get report.pdf |', options: [] });
    expect(tab('/upload do')).toEqual({ line: '/upload docs|', options: [] });
    expect(tab('/upload docs/')).toEqual({ line: '/upload docs/|', options: [] });
    expect(tab('/upload s')).toEqual({ line: '/upload src/|', options: [] });
  });

  it('never puts a control character on the line (a local file named with an escape cannot be typed either)', () => {
    const s = { ...sources, paths: () => ['evil\u001b]0;x\u0007.txt', 'eve.txt'], files: ['x\u001b[2J', 'x1'] };
    expect(tab('/upload ev', s)).toEqual({ line: '/upload eve.txt |', options: [] });
    expect(tab('/get x', s)).toEqual({ line: '/get x1 |', options: [] });
  });

  it('nothing for arguments that take no names', () => {
    expect(tab('/history 1')).toEqual({ line: '/history 1|', options: [] });
    expect(tab('/join ops o')).toEqual({ line: '/join ops o|', options: [] });
  });
});
