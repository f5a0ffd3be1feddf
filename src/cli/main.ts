import { CommanderError } from 'commander';
import { isConfigError } from '../config/index.js';
import { EXIT, isUnreachableError, isUsageError } from './errors.js';
import { message } from './context.js';
import { buildProgram } from './program.js';

/**
 * Runs the `outbox` command with `argv` (without node and the script) and resolves to the exit
 * code: user mistakes are one line on standard error without a stack trace.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  for (const command of program.commands) {
    command.exitOverride();
    for (const sub of command.commands) sub.exitOverride();
  }

  try {
    await program.parseAsync([...argv], { from: 'user' });

    return EXIT.ok;
  } catch (error) {
    return report(error);
  }
}

function report(error: unknown): number {
  if (error instanceof CommanderError) {
    // Commander already printed the help or the usage message.
    if (error.exitCode === 0) return EXIT.ok;

    return EXIT.usage;
  }

  if (isConfigError(error) || isUsageError(error)) {
    process.stderr.write(`outbox: ${error.message}\n`);

    return EXIT.usage;
  }

  if (isUnreachableError(error)) {
    process.stderr.write(`outbox: ${error.message}\n`);

    return EXIT.unreachable;
  }

  process.stderr.write(`outbox: failed: ${message(error)}\n`);
  if (process.env.OUTBOX_LOG_LEVEL === 'debug' && error instanceof Error && error.stack) {
    process.stderr.write(`${error.stack}\n`);
  }

  return EXIT.failure;
}

const entry = process.argv[1] ?? '';
if (/(cli[\\/]main\.[tj]s|cli\.c?js|outbox(\.js)?)$/.test(entry)) {
  void main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
    // Everything is closed by now; a handle left open by a driver must not keep us running.
    setTimeout(() => process.exit(code), 3000).unref();
  });
}
