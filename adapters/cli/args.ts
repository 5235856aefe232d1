/**
 * Command-line parsing shared by every command: node:util's parseArgs (Bun, Deno and Node all have it) plus
 * `--help` text generated from the same option table, so help and parsing never disagree.
 */
import { parseArgs } from 'node:util';
import { PipelineError } from '../../common/errors.ts';

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

/** Parses argv for a command; unknown flags are a bad_request naming the flag. */
export const parse = (c: CommandSpec, argv: string[]) => {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
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
