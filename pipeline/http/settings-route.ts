/**
 * `GET /v1/settings`: what a client needs to fill a form truthfully — the folders a request may name (as the
 * operator configured them, after resolving links) and the value the server uses for every field a request
 * leaves out. The defaults are read from the request and pipeline schemas, so they cannot drift from what the
 * server applies. It sits behind the same request guard (host, origin, token) as every `/v1/` route.
 */
import type { Hono } from 'hono';
import type { z } from 'zod';
import { generatePipelineDescription } from '../../common/generate-pipeline.ts';
import { GenerateRequest } from '../../common/requests.ts';
import { trainPipelineDescription } from '../../common/train/train-pipeline.ts';
import { TrainRequest } from '../../common/train/train-request.ts';
import type { PathPolicy } from './path-policy.ts';

/**
 * The default of every field of an object schema that has one (fields without a default are left out).
 * @example fieldDefaults(z.object({ steps: z.int().default(50), prompt: z.string() })) // { steps: 50 }
 */
export const fieldDefaults = (schema: z.ZodObject): Record<string, unknown> => {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(schema.shape)) {
    const r = (field as z.ZodType).safeParse(undefined);
    if (r.success && r.data !== undefined) out[key] = r.data;
  }
  return out;
};

/** The settings answer; computed on each request because the roots belong to the app. */
export const serverSettings = (paths: PathPolicy) => ({
  roots: { images: paths.roots.images, models: paths.roots.models, out: paths.roots.out || undefined },
  defaults: {
    generate: fieldDefaults(GenerateRequest),
    train: fieldDefaults(TrainRequest),
    pipelines: { generate: generatePipelineDescription.parse({}), train: trainPipelineDescription.parse({}) },
  },
});

/** Adds `GET /v1/settings` to `app`. */
export const settingsRoute = (app: Hono, paths: PathPolicy): Hono =>
  app.get('/v1/settings', (c) => c.json(serverSettings(paths)));
