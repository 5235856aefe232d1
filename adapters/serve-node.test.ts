// Runs on Bun's node:http; the bridge itself is plain node:http + WHATWG streams, so Node and Deno run it too.
import { serveNode } from './serve-node.ts';
import { serveSuite } from './serve-suite.ts';

serveSuite('node:http', serveNode);
