import { serveBun } from './serve-bun.ts';
import { serveSuite } from './serve-suite.ts';

serveSuite('Bun.serve', serveBun);
