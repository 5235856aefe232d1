/**
 * Command-line parsing shared by every command: node:util's parseArgs (Bun, Deno and Node all have it) plus
 * `--help` text generated from the same option table, so help and parsing never disagree.
 */
import { parseArgs } from 'node:util';
import { PipelineError } from '../../common/errors.ts';
import { nearestName } from './nearest-name.ts';

export interface OptionSpec {
  type: 'string' | 'boolean';
  short?: string;
  multiple?: boolean;
  default?: string | boolean;
  help: string;
  arg?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  options: Record<string, OptionSpec>;
  positionals?: string;
}

export const helpText = (c: CommandSpec): string => {
  const rows = Object.entries(c.options).map(([k, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${k}${o.type === 'string' ? ` <${o.arg ?? 'value'}>` : ''}`;
    return `  ${flag.padEnd(34)} ${o.help}${o.default !== undefined && o.default !== false ? ` (default: ${o.default})` : ''}`;
  });
  return `${c.summary}\n\nUsage: pseudoword ${c.usage}\n\nOptions:\n${rows.join('\n')}\n  -h, --help                         show this help\n`;
};

const negativeNumber = /^-(\d|\.\d)/;

/**
 * Checks every `--flag` against the command's options (an unknown one is refused with the nearest known one
 * suggested), and joins `--flag -5` into `--flag=-5`: parseArgs reads a value starting with '-' as another flag,
 * so without this `--steps -5` would be refused as ambiguous instead of reaching the range check.
 */
const prepareArgs = (c: CommandSpec, argv: string[]): string[] => {
  const known = [...Object.keys(c.options), 'help'];
  const longOf = new Map(Object.entries(c.options).flatMap(([k, o]) => (o.short ? [[o.short, k]] : [])));
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') return [...out, ...argv.slice(i)];
    const name = a.startsWith('--') ? a.slice(2).split('=')[0] : /^-[^-\d.]$/.test(a) ? longOf.get(a[1]) : undefined;
    if (a.startsWith('--') && !known.includes(name!)) {
      const near = nearestName(name!, known);
      throw new PipelineError(
        'bad_request',
        `unknown option '--${name}'${near ? ` — did you mean --${near}?` : ''} (see 'pseudoword ${c.name} --help')`,
        { option: name, ...(near ? { suggestion: near } : {}) },
      );
    }
    const next = argv[i + 1];
    if (name && !a.includes('=') && c.options[name]?.type === 'string' && next && negativeNumber.test(next)) {
      out.push(`--${name}=${next}`);
      i++;
    } else out.push(a);
  }
  return out;
};

/** Parses argv for a command; an unknown flag is a bad_request naming it and the nearest known one. */
export const parse = (c: CommandSpec, argv: string[]) => {
  const args = prepareArgs(c, argv);
  try {
    const { values, positionals } = parseArgs({
      args,
      allowPositionals: true,
      strict: true,
      options: {
        ...Object.fromEntries(
          Object.entries(c.options).map(([k, o]) => [
            k,
            {
              type: o.type,
              ...(o.short ? { short: o.short } : {}),
              ...(o.multiple ? { multiple: true } : {}),
              ...(o.default !== undefined ? { default: o.default as any } : {}),
            },
          ]),
        ),
        help: { type: 'boolean', short: 'h' },
      },
    });
    return { values: values as Record<string, any>, positionals, help: Boolean(values.help) };
  } catch (e) {
    throw new PipelineError(
      'bad_request',
      `${(e as Error).message.split('\n')[0]} — see 'pseudoword ${c.name} --help'`,
    );
  }
};

/** A number option, with a clear error naming the flag. */
export const num = (v: unknown, flag: string, opts: { int?: boolean; min?: number } = {}): number | undefined => {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || (opts.int && !Number.isInteger(n)) || (opts.min !== undefined && n < opts.min))
    throw new PipelineError(
      'bad_request',
      `--${flag} must be ${opts.int ? 'an integer' : 'a number'}${opts.min !== undefined ? ` ≥ ${opts.min}` : ''}, got '${v}'`,
    );
  return n;
};

const kebab = (field: string) => field.replace(/[A-Z]/g, (ch) => `-${ch.toLowerCase()}`);

/**
 * An error that names a request field as its first word ("steps: must be ≥ 1", "images: '/x' is not a folder"),
 * reworded to name the command's flag instead ("--steps must be ≥ 1", as `num` words it); "embeddings[0]: …"
 * becomes "--embeddings[0] …". Anything else — another error, a field no flag of the same (kebab-case) name sets —
 * comes back as it was.
 */
export const withFlagName = (c: CommandSpec, e: unknown): unknown => {
  if (!(e instanceof PipelineError)) return e;
  const field = typeof e.details?.field === 'string' ? e.details.field : /^([A-Za-z]+): /.exec(e.message)?.[1];
  if (!field || !e.message.startsWith(`${field}: `)) return e;
  const [, base, rest] = /^([^[.]+)(.*)$/.exec(field)!;
  if (!c.options[kebab(base)]) return e;
  const flag = `--${kebab(base)}${rest}`;
  return new PipelineError(e.code, `${flag} ${e.message.slice(field.length + 2)}`, { ...e.details, flag });
};

/**
 * Builds a request from flags, naming the flag where the request schema names its field (see `withFlagName`).
 * @example fromFlags(spec, () => parseTrainRequest({ ...flags, steps: -5 })) // throws "--steps must be ≥ 1"
 */
export const fromFlags = <T>(c: CommandSpec, build: () => T): T => {
  try {
    return build();
  } catch (e) {
    throw withFlagName(c, e);
  }
};
