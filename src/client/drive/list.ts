/**
 * Every file of a group through FILES, page after page (commands.ts FILES: a page
 * holds what fits in a frame; `more` asks for the next, after the last file received).
 * Used by `chat files`, chat-get's patterns and the interactive /files.
 */
import type { Payload } from '../../protocol/codec.js';

/** Sends one request and resolves with its reply: conn.request, or a wrapper adding hints. */
export type FilesRequester = (name: 'FILES', payload: Payload) => Promise<Payload>;

/** The FILE payloads of `group` in listing order: the latest of each name, or every version. */
export async function listAllFiles(request: FilesRequester, group: string, versions: boolean): Promise<Payload[]> {
  const out: Payload[] = [];
  let afterName = '';
  let afterVersion = 0;
  for (;;) {
    const reply = await request('FILES', { group, versions, afterName, afterVersion });
    const page = reply.files as Payload[];
    out.push(...page);
    if (reply.more !== true || page.length === 0) return out;
    const last = page[page.length - 1]!;
    afterName = String(last.name);
    afterVersion = Number(last.version);
  }
}
