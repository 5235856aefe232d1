/**
 * Redis for the queue: one URL (`redis://[:password@]host:port[/db]`) read into ioredis options that BullMQ can
 * share. Commands never give up while Redis is away (`maxRetriesPerRequest: null`, as BullMQ's workers need):
 * ioredis reconnects with a capped exponential backoff, so a Redis restart pauses runs instead of losing them.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { PipelineError } from '../../common/errors.ts';

/**
 * ioredis options for a `redis://` URL.
 * @example redisOptions('redis://127.0.0.1:6380/2') // { host: '127.0.0.1', port: 6380, db: 2, … }
 */
export const redisOptions = (url: string): RedisOptions => {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new PipelineError('bad_request', `--queue: '${url}' is not a URL (redis://host:port)`);
  }
  if (u.protocol !== 'redis:') throw new PipelineError('bad_request', `--queue: '${url}' is not a redis:// URL`);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  if (!Number.isInteger(db) || db < 0)
    throw new PipelineError('bad_request', `--queue: database '${u.pathname}' is not a number`);
  return {
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port ? Number(u.port) : 6379,
    db,
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    maxRetriesPerRequest: null,
    retryStrategy: (attempt) => Math.min(100 * 2 ** attempt, 10_000),
  };
};

/**
 * A connected client, or a clear error when Redis cannot be reached within `timeoutMs` (at start-up only; later
 * outages are waited out).
 * @throws PipelineError 'io' naming the URL.
 */
export const connectRedis = async (url: string, timeoutMs = 5000): Promise<Redis> => {
  const redis = new Redis({ ...redisOptions(url), lazyConnect: true });
  redis.on('error', () => {}); // reported through the ping below, then retried by ioredis
  const timer = new Promise<never>((_, reject) =>
    setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs),
  );
  try {
    await Promise.race([redis.connect().then(() => redis.ping()), timer]);
    return redis;
  } catch (e) {
    redis.disconnect();
    throw new PipelineError('io', `cannot reach Redis at ${url}: ${(e as Error).message}. Is redis-server running?`);
  }
};
