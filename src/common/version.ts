/**
 * The suite's version as package.json states it, for `--version` of every executable;
 * "unknown" when package.json cannot be read (a copied dist/ without it).
 */
import fs from 'node:fs';

export function packageVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
