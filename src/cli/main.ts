#!/usr/bin/env node
import { serveCommand } from "./serve.js";

const USAGE = `Usage: outlast <command> [options]

Commands:
  serve     run the HTTP API, workers and the demo task (outlast serve --help)
`;

async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve":
      return serveCommand(rest);
    case undefined:
    case "--help":
    case "-h":
    case "help":
      process.stdout.write(USAGE);
      return;
    default:
      process.stderr.write(`Unknown command "${command}".\n${USAGE}`);
      process.exitCode = 2;
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`outlast: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
