#!/usr/bin/env node
// The `herald` entry point.
import { buildProgram } from './program.js';

await buildProgram().parseAsync(process.argv);
