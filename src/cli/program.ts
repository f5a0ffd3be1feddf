import { Command } from 'commander';
import {
  deadListCommand,
  deadReplayCommand,
  migrateCommand,
  pauseCommand,
  statusCommand,
} from './commands/admin.js';
import { demoCommand } from './commands/demo.js';
import { enqueueCommand } from './commands/enqueue.js';
import { runCommand } from './commands/run.js';
import { STORE_SETTINGS, withSettings } from './context.js';

const EXIT_CODES = `
Exit codes:
  0    done
  1    failure while running
  2    usage or configuration error
  3    database or publisher unreachable at start
  130  forced exit (a second SIGINT or SIGTERM)`;

/** The `outbox` command line. */
export function buildProgram(): Command {
  const program = new Command('outbox')
    .description('Transactional-outbox dispatcher: from the outbox table to a broker or webhook')
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_CODES);

  withSettings(
    program
      .command('run')
      .description('Run the dispatcher until SIGINT or SIGTERM')
      .option('--no-migrate', 'do not apply missing migrations at start'),
  ).action((options: Record<string, unknown>) => runCommand(options));

  withSettings(
    program.command('migrate').description('Apply the missing migrations (idempotent)'),
    STORE_SETTINGS,
  ).action((options: Record<string, unknown>) => migrateCommand(options));

  withSettings(
    program
      .command('status')
      .description('Show the outbox figures per type')
      .option('--json', 'print JSON instead of a table'),
    STORE_SETTINGS,
  ).action((options: Record<string, unknown>) => statusCommand(options));

  const dead = program.command('dead').description('List or replay dead-lettered events');
  withSettings(
    dead
      .command('list')
      .description('List dead events, oldest first')
      .option('--type <type>', 'only this event type')
      .option('--limit <n>', 'at most this many (default 100)')
      .option('--after <id>', 'only events with a larger id (paging)')
      .option('--json', 'print JSON instead of a table'),
    STORE_SETTINGS,
  ).action((options: Record<string, unknown>) => deadListCommand(options));
  withSettings(
    dead
      .command('replay')
      .description('Make dead events pending again, with a fresh attempt count')
      .option('--id <ids...>', 'these event ids')
      .option('--type <type>', 'every dead event of this type')
      .option('--all', 'every dead event'),
    STORE_SETTINGS,
  ).action((options: Record<string, unknown>) => deadReplayCommand(options));

  withSettings(
    program
      .command('enqueue')
      .description(
        'Write events read from standard input, one JSON object per line: ' +
          '{"type", "key", "payload", "headers"}',
      ),
    STORE_SETTINGS,
  ).action((options: Record<string, unknown>) => enqueueCommand(options));

  withSettings(
    program
      .command('pause')
      .description('Pause the delivery of an event type (for every dispatcher)')
      .argument('<type>', 'the event type'),
    STORE_SETTINGS,
  ).action((type: string, options: Record<string, unknown>) => pauseCommand(type, true, options));
  withSettings(
    program
      .command('resume')
      .description('Resume the delivery of a paused event type')
      .argument('<type>', 'the event type'),
    STORE_SETTINGS,
  ).action((type: string, options: Record<string, unknown>) => pauseCommand(type, false, options));

  program
    .command('demo')
    .description('Run a self-contained demo: SQLite outbox, producer, dispatcher, webhook')
    .option('--file <path>', 'the SQLite file (default .outbox/demo.sqlite)')
    .option('--rate <n>', 'orders per second (default 20)')
    .option('--duration <s>', 'stop after this many seconds (default: at Ctrl-C)')
    .option('--fail-rate <ratio>', 'share of webhook calls answered 503 (default 0.05)')
    .option('--log-level <level>', 'dispatcher log level on standard error (default warn)')
    .action((options: Record<string, string>) => demoCommand(options));

  return program;
}
