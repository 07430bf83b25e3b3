/**
 * `chat group <action>`: group administration (SPEC §4 Groups). promote/demote map to
 * GROUP_ROLE, an extension beyond the SPEC (owner makes a member an admin and back).
 */
import type { Argv } from 'yargs';
import { withCommonOptions } from '../options.js';
import { defineCommand, runLazy, type AnyCommand } from './define.js';

const load = () => import('../handlers/groups.js');

/** The USER positional is called `account`: `user` would collide with --user (who acts). */
function nameAndAccount<T>(y: Argv<T>) {
  return withCommonOptions(y)
    .positional('name', { type: 'string', demandOption: true, describe: 'group name' })
    .positional('account', { type: 'string', demandOption: true, describe: 'the user acted upon' });
}

const create = defineCommand({
  command: 'create <name>',
  describe: 'create a group; you become its owner',
  builder: (y) => withCommonOptions(y)
    .positional('name', { type: 'string', demandOption: true, describe: 'group name' })
    .option('private', { type: 'boolean', describe: 'joinable only after an invite' }),
  handler: (argv) => runLazy(async () => (await load()).groupCreate, argv),
});

const invite = defineCommand({
  command: 'invite <name> <account>',
  describe: 'invite a user (owner/admin)',
  builder: nameAndAccount,
  handler: (argv) => runLazy(async () => (await load()).groupInvite, argv),
});

const kick = defineCommand({
  command: 'kick <name> <account>',
  describe: 'remove a member (owner/admin)',
  builder: nameAndAccount,
  handler: (argv) => runLazy(async () => (await load()).groupKick, argv),
});

const remove = defineCommand({
  command: 'delete <name>',
  describe: 'delete the group (owner/admin)',
  builder: (y) => withCommonOptions(y).positional('name', { type: 'string', demandOption: true, describe: 'group name' }),
  handler: (argv) => runLazy(async () => (await load()).groupDelete, argv),
});

const promote = defineCommand({
  command: 'promote <name> <account>',
  describe: 'make a member an admin (owner)',
  builder: nameAndAccount,
  handler: (argv) => runLazy(async () => (await load()).groupPromote, argv),
});

const demote = defineCommand({
  command: 'demote <name> <account>',
  describe: 'make an admin a plain member again (owner)',
  builder: nameAndAccount,
  handler: (argv) => runLazy(async () => (await load()).groupDemote, argv),
});

export const GROUP_SUBCOMMANDS: AnyCommand[] = [create, invite, kick, remove, promote, demote];

export const groupCommand = defineCommand({
  command: 'group',
  describe: 'create, invite, kick, delete, promote, demote',
  builder: (y) => y.command(GROUP_SUBCOMMANDS).demandCommand(1, 'which group action? create, invite, kick, delete, promote or demote'),
  handler: () => undefined,
});
