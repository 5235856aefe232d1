/**
 * From a checked description to operators: each stage's factory runs once (opening sessions, encoding a prompt),
 * and runs of consecutive per-value stages are fused into one segment that handles one value at a time — the
 * runner's unit of flow control. A factory that fails is reported naming its stage, still before any input is read.
 */
import type { OperatorFunction } from 'rxjs';
import { PipelineError, asPipelineError } from '../../common/errors.ts';
import { stageLabel, type CompiledPipeline } from './compile-pipeline.ts';
import type { FirstStage } from './input-kinds.ts';
import type { StageContext } from './stage-definition.ts';
import type { StreamKind } from '../../common/stream-items.ts';

/** A stretch of the pipeline: either per-value stages fused together, or one stage that takes the whole stream. */
export interface Segment {
  readonly whole: boolean;
  readonly op: OperatorFunction<unknown, unknown>;
}

/** A pipeline ready to run. */
export interface BuiltPipeline {
  readonly input: StreamKind;
  readonly output: StreamKind;
  readonly segments: readonly Segment[];
  readonly runId: string;
  /**
   * The first stage, which every input item is checked against as it is read (`runPipeline`). Always set by
   * `buildPipeline`; a pipeline assembled by hand without it (a test's operators) is run unchecked.
   */
  readonly first?: FirstStage;
}

// rxjs's pipe() is typed for up to nine operators; a fold has no such limit.
const chain =
  (ops: OperatorFunction<unknown, unknown>[]): OperatorFunction<unknown, unknown> =>
  (s) =>
    ops.reduce((a, op) => a.pipe(op), s);

/**
 * Calls every stage's factory with `ctx` and groups the operators into segments.
 * @throws PipelineError naming the stage whose factory failed (code kept, e.g. 'bad_model').
 * @example const built = await buildPipeline(await compilePipeline(desc), ctx);
 */
export const buildPipeline = async (p: CompiledPipeline, ctx: StageContext): Promise<BuiltPipeline> => {
  const segments: Segment[] = [];
  let run: OperatorFunction<unknown, unknown>[] = [];
  const flush = () => {
    if (run.length) segments.push({ whole: false, op: run.length === 1 ? run[0] : chain(run) });
    run = [];
  };
  for (const s of p.stages) {
    let op: OperatorFunction<unknown, unknown>;
    try {
      op = (await s.stage.create(s.settings as never, ctx)) as OperatorFunction<unknown, unknown>;
    } catch (e) {
      const err = asPipelineError(e);
      throw new PipelineError(err.code, `${stageLabel(s.index, s.stage.name)}: ${err.message}`, {
        ...err.details,
        stage: s.index,
        use: s.use,
      });
    }
    if (s.stage.whole) {
      flush();
      segments.push({ whole: true, op });
    } else run.push(op);
  }
  flush();
  const [head] = p.stages;
  const first = { label: stageLabel(head.index, head.stage.name), use: head.use, input: head.stage.input };
  return { input: p.input, output: p.output, segments, runId: ctx.runId, first };
};
