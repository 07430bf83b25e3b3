/**
 * Helpers shared by the subcommand modules. Contract: a command module is cheap to
 * load (yargs builder and text only); its handler module is imported when, and only
 * when, that subcommand runs (STYLE habit 9: `chat send` must start fast).
 */
import type { CommandModule } from 'yargs';

/** Marks an error thrown by a handler, so main.ts can tell it from a yargs usage error. */
export class HandlerError extends Error {
  constructor(readonly inner: unknown) {
    super('handler failed');
    this.name = 'HandlerError';
  }
}

/**
 * A command of any argument shape, for the registration arrays: each module is
 * type-checked where it is defined; yargs needs them side by side.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCommand = CommandModule<any, any>;

/** Identity with inference: U is what the builder declares, checked against the handler. */
export function defineCommand<U>(module: CommandModule<object, U>): CommandModule<object, U> {
  return module;
}

/** Loads a handler lazily and runs it; its failures come out wrapped in HandlerError. */
export async function runLazy<A>(load: () => Promise<(argv: A) => Promise<void>>, argv: A): Promise<void> {
  try {
    const handler = await load();
    await handler(argv);
  } catch (err) {
    throw new HandlerError(err);
  }
}
