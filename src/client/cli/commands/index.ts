/** The explicit list of `chat` subcommands, in help order (STYLE habit 9). */
import { loginCommand } from './login.js';
import { logoutCommand } from './logout.js';
import { passwdCommand } from './passwd.js';
import { registerCommand } from './register.js';
import { renameCommand } from './rename.js';
import { whoamiCommand } from './whoami.js';
import type { AnyCommand } from './define.js';
import { groupCommand, GROUP_SUBCOMMANDS } from './group.js';
import { groupsCommand } from './groups.js';
import { historyCommand } from './history.js';
import { joinCommand } from './join.js';
import { leaveCommand } from './leave.js';
import { searchCommand } from './search.js';
import { sendCommand } from './send.js';
import { tailCommand } from './tail.js';
import { usersCommand } from './users.js';
import { waitCommand } from './wait.js';
import { filesCommand } from './files.js';
import { rmCommand } from './rm.js';
import { uploadCommand } from './upload.js';

export const COMMANDS: AnyCommand[] = [
  registerCommand, loginCommand, logoutCommand, whoamiCommand, passwdCommand, renameCommand,
  groupsCommand, groupCommand, joinCommand, leaveCommand,
  usersCommand,
  sendCommand, historyCommand, searchCommand, tailCommand, waitCommand,
  uploadCommand, filesCommand, rmCommand,
];

function firstWord(c: AnyCommand): string {
  return String(c.command).split(' ')[0];
}

/** Subcommand names, in help order. */
export const COMMAND_NAMES = COMMANDS.map(firstWord);
export const GROUP_ACTIONS = GROUP_SUBCOMMANDS.map(firstWord);

/** "group create" -> "group create <name>": the usage line of each (sub)command. */
export const SIGNATURES: Readonly<Record<string, string>> = Object.fromEntries([
  ...COMMANDS.map((c) => [firstWord(c), String(c.command)]),
  ...GROUP_SUBCOMMANDS.map((c) => [`group ${firstWord(c)}`, `group ${String(c.command)}`]),
]);
