// `herald config convert -f FILE [--to crs|configmap] [-n NAMESPACE] [--name NAME]`: a legacy ConfigMap
// (or bare config) as the equivalent MetalLB CRs, or CR manifests back as a ConfigMap. The output
// compiles to the same config as the input. Exit 0: printed; 1: the input is invalid or cannot be
// said in the target format; 2: the file cannot be read.
import { readFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import yaml from 'js-yaml';
import { toConfigMap, toCrManifests } from '../config/crs/emit.js';
import { parseAnyConfigWithWarnings } from '../config/crs/source.js';
import { ConfigError } from '../config/model.js';

interface ConvertOpts {
  file: string;
  to?: 'crs' | 'configmap';
  namespace: string;
  name: string;
}

/** The converted manifests as YAML text; throws ConfigError for an invalid or inexpressible input. */
export function convert(text: string, opts: Omit<ConvertOpts, 'file'>): string {
  const parsed = parseAnyConfigWithWarnings(text);
  const to = opts.to ?? (parsed.kind === 'crs' ? 'configmap' : 'crs');
  const objects = to === 'crs' ? toCrManifests(parsed.config, opts.namespace) : [toConfigMap(parsed.config, opts.name, opts.namespace)];
  return objects.map((o) => `---\n${yaml.dump(o, { lineWidth: -1, noRefs: true })}`).join('');
}

export function register(program: Command): void {
  const config = program.commands.find((c) => c.name() === 'config') ?? program.command('config').description('MetalLB-format configuration tools');
  config
    .command('convert')
    .description('convert a legacy ConfigMap into the equivalent MetalLB CRs (metallb.io), or CR manifests into a ConfigMap (exit 0: printed; 1: invalid or inexpressible input; 2: unreadable file)')
    .requiredOption('-f, --file <path>', 'a ConfigMap manifest, a bare config document, or CR manifests; "-" reads stdin')
    .addOption(new Option('--to <format>', 'output format (default: the other one)').choices(['crs', 'configmap']))
    .option('-n, --namespace <namespace>', 'namespace of the objects printed (MetalLB and Herald read their own namespace)', 'metallb-system')
    .option('--name <name>', 'name of the ConfigMap printed', 'config')
    .action((opts: ConvertOpts) => {
      let text: string;
      try {
        text = readFileSync(opts.file === '-' ? 0 : opts.file, 'utf8');
      } catch (e) {
        process.stderr.write(`herald config convert: cannot read ${opts.file}: ${(e as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      try {
        process.stdout.write(convert(text, opts));
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        process.stderr.write(`herald config convert: ${opts.file} cannot be converted:\n${e.message}\n`);
        process.exitCode = 1;
      }
    });
}
