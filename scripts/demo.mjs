#!/usr/bin/env node
// The README's main job. It grows with the project: for now it shows the command line.
import { main } from "../dist/cli/main.js";

process.exitCode = await main(["--help"]);
