// The command line from sources, for tests that run it as a child process:
// node --import tsx tests/helpers/cli-entry.ts <args>
import { main } from "../../src/cli/main.js";

process.exitCode = await main(process.argv.slice(2));
