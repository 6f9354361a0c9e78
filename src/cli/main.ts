#!/usr/bin/env node
import { CommanderError } from 'commander';
import { ConfigError } from '../config/errors.js';
import { processIo } from './io.js';
import { createProgram } from './program.js';

try {
  await createProgram(processIo).parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode;
  } else if (err instanceof ConfigError) {
    processIo.err(`findguard: configuration error: ${err.message}`);
    process.exitCode = 78; // EX_CONFIG
  } else {
    processIo.err(`findguard: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = 1;
  }
}
