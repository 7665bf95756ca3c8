// Builds the `herald` command tree; each subcommand lives in its own file and exports register(program).
import { Command } from 'commander';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
// subcommand imports (keep one per line):
import { register as registerBfd } from './bfd.js';
import { register as registerBgpAnnounce } from './bgp-announce.js';
import { register as registerConfigCheck } from './config-check.js';
import { register as registerConfigConvert } from './config-convert.js';
import { register as registerController } from './controller.js';
import { register as registerL2Announce } from './l2-announce.js';
import { register as registerSpeaker } from './speaker.js';
import { register as registerManifests } from './manifests.js';

/** The package version, found by walking up from this file (works from cli/ and from dist/cli/). */
function packageVersion(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    const candidate = join(dir, 'package.json');
    if (existsSync(candidate)) return (JSON.parse(readFileSync(candidate, 'utf8')) as { version: string }).version;
    dir = dirname(dir);
  }
  return '0.0.0';
}

export function buildProgram(): Command {
  const program = new Command('herald')
    .description('Bare-metal LoadBalancer for Kubernetes: layer2 (ARP/NDP) and BGP announcements of Service IPs')
    .version(packageVersion())
    .showHelpAfterError();
  // subcommand registrations (keep one per line):
  registerBfd(program);
  registerBgpAnnounce(program);
  registerConfigCheck(program);
  registerConfigConvert(program);
  registerController(program);
  registerL2Announce(program);
  registerSpeaker(program);
  registerManifests(program);
  return program;
}
