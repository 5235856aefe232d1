/**
 * A real Redis for a test: Debian's redis-server on a free loopback port, started and stopped by the test that
 * needs it. `haveRedis` is false where the package is not installed (.ci/run installs it); tests skip then.
 */
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:net';
import type { Subprocess } from 'bun';

export const haveRedis = spawnSync('redis-server', ['--version']).status === 0;

/** A port nobody listens on right now. */
export const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

export interface RedisServer {
  port: number;
  url: string;
  proc: Subprocess;
  /** Stops it (SIGKILL: as a crash would). */
  kill(): void;
}

/**
 * Starts redis-server and waits until it answers PING. `dir` with `appendonly` makes it durable across restarts
 * (as a production Redis would be); without, it keeps nothing on disk.
 */
export const startRedis = async (o: { port?: number; dir?: string } = {}): Promise<RedisServer> => {
  const port = o.port ?? (await freePort());
  const durable = o.dir ? ['--dir', o.dir, '--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  const proc = Bun.spawn(['redis-server', '--port', String(port), '--bind', '127.0.0.1', '--save', '', ...durable], {
    stdout: 'ignore',
    stderr: 'ignore',
  });
  for (let i = 0; i < 100; i++) {
    if (
      spawnSync('redis-cli', ['-p', String(port), 'ping'])
        .stdout?.toString()
        .trim() === 'PONG'
    )
      break;
    await Bun.sleep(50);
  }
  return { port, url: `redis://127.0.0.1:${port}`, proc, kill: () => proc.kill(9) };
};
