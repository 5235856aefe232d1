/**
 * A stage as the registry knows it: a name, the kinds it takes and emits, a zod schema for its settings and a
 * factory that turns checked settings into an RxJS operator. Built-in stages and user stages (a module exporting
 * one of these) have the same shape, so a description swaps one for the other by changing `use`.
 */
import type { OperatorFunction } from 'rxjs';
import type { z } from 'zod';
import type { SdModel } from '../../weights/model-folder.ts';
import type { GenerateDeps } from '../generate.ts';
import type { TrainDeps } from '../train/run-train.ts';
import type { ItemOf, StreamKind } from '../../common/stream-items.ts';

/** What a stage's factory may use while it builds its operator. */
export interface StageContext {
  /** The run's id (frames a stage emits carry it). */
  readonly runId: string;
  /** The description's model name (`tiny` or a folder) and device. */
  readonly modelName: string;
  readonly device: 'cpu' | 'cuda';
  /** That model, opened once per run on first use. */
  model(): Promise<SdModel>;
  /** Aborts when the consumer goes away; the operator is unsubscribed as well. */
  readonly signal?: AbortSignal;
  /** Reports where a stage is (e.g. denoising step 3 of 20); the CLI draws it on stderr. */
  progress(phase: string, step: number, of: number): void;
  /** Present where whole generation runs may be started (the `generate` stage). */
  readonly generate?: GenerateDeps;
  /** Present where training may run and write files (the `train` stage). */
  readonly train?: TrainDeps;
}

/**
 * A stage. `create` is called once per run with the parsed settings; its operator is applied to each input value
 * on its own (one subscription per value), which is how the runner knows a value is done and can hold a fast
 * producer back. A stage that needs the whole stream at once (batching, `scan`, training) sets `whole: true`
 * and is applied to the stream as a whole instead.
 */
export interface StageDefinition<
  S extends z.ZodType = z.ZodType,
  I extends StreamKind = StreamKind,
  O extends StreamKind = StreamKind,
> {
  readonly name: string;
  readonly summary: string;
  readonly input: I;
  readonly output: O;
  readonly settings: S;
  readonly whole?: boolean;
  create(settings: z.output<S>, ctx: StageContext): StageOperator<I, O> | Promise<StageOperator<I, O>>;
}

/** The operator a stage's factory returns. */
export type StageOperator<I extends StreamKind, O extends StreamKind> = OperatorFunction<ItemOf[I], ItemOf[O]>;

/**
 * Any stage, whatever its settings and kinds. `any` because `create`'s parameters are contravariant: a stage
 * typed for images is not a `StageDefinition<ZodType, StreamKind, StreamKind>`, yet the registry holds both.
 */
export type AnyStage = StageDefinition<z.ZodType, StreamKind, StreamKind> | StageDefinition<any, any, any>;

/**
 * Declares a stage with its types inferred from the settings schema and the two kinds: the one helper a user
 * stage module needs.
 * @example
 * export default defineStage({
 *   name: 'invert', summary: 'inverts colours', input: 'image', output: 'image', settings: z.object({}),
 *   create: (_settings) => map((item) => ({ ...item, image: invert(item.image) })),
 * });
 */
export const defineStage = <S extends z.ZodType, I extends StreamKind, O extends StreamKind>(
  d: Omit<StageDefinition<S, I, O>, 'create'> & {
    // NoInfer: the kinds come from `input`/`output` alone, so `map((item) => …)` in `create` gets a typed item.
    create(
      settings: z.output<NoInfer<S>>,
      ctx: StageContext,
    ): StageOperator<NoInfer<I>, NoInfer<O>> | Promise<StageOperator<NoInfer<I>, NoInfer<O>>>;
  },
): StageDefinition<S, I, O> => d;
