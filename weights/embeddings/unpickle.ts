/**
 * A restricted unpickler for the data pickles `torch.save` writes (protocol 2, and 3–5 opcodes too). It never
 * runs anything: a class or function the pickle names becomes a `PyGlobal`, calling one that the caller did not
 * supply yields an inert `PyObject` record. Dicts become `Map`s, tuples and lists arrays, None `null`.
 * Its work is linear in the input: integers, memo slots and the values built are capped (`limits`), so a
 * hostile pickle ends in `PipelineError('bad_embedding')` instead of minutes of BigInt arithmetic or a copy of
 * a memoised dict per opcode.
 */
import { PipelineError } from '../../common/errors.ts';
import { limits } from '../../common/limits.ts';

/** A class or function named by module and name. */
export class PyGlobal {
  constructor(readonly path: string) {}
}

/** An object built from a global the caller does not interpret: its class, constructor args and state. */
export class PyObject {
  state: unknown;
  constructor(
    readonly type: string,
    readonly args: unknown[],
  ) {}
}

/** What the caller supplies: functions for the globals it knows, and the persistent-id loader. */
export interface UnpickleOptions {
  call?: Record<string, (...args: any[]) => unknown>;
  persistentLoad?(pid: unknown): unknown;
}

// Globals any pickle of plain containers may name; interpreting them runs no code.
const builtins: Record<string, (...args: any[]) => unknown> = {
  'collections.OrderedDict': (items?: [unknown, unknown][]) => new Map(items ?? []),
  'builtins.set': (items?: unknown[]) => new Set(items ?? []),
  'builtins.frozenset': (items?: unknown[]) => new Set(items ?? []),
  '_codecs.encode': (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0) & 0xff), // latin-1, how protocol 2 stores bytes
  'copyreg._reconstructor': (cls: PyGlobal) => new PyObject(cls.path, []),
};

const MARK = Symbol('mark');

/** How many values a builtin's result holds, charged against `limits.pickleObjects` like the values pushed. */
const sizeOf = (x: unknown): number =>
  x instanceof Map || x instanceof Set ? x.size : x instanceof Uint8Array || Array.isArray(x) ? x.length : 1;

/**
 * Unpickles `bytes`. `what` names the file in error messages.
 * @example
 * unpickle(pickleBytes, 'emb.pt', { persistentLoad: (pid) => storages.get(pid[2]) })
 */
export const unpickle = (bytes: Uint8Array, what: string, options: UnpickleOptions = {}): unknown => {
  try {
    return run(bytes, what, options);
  } catch (e) {
    if (e instanceof PipelineError) throw e;
    // A malformed pickle trips over its own stack (a missing operand, a wrong type): say so, not a TypeError.
    throw new PipelineError('bad_embedding', `${what}: corrupt pickle (${e instanceof Error ? e.message : String(e)})`);
  }
};

const run = (bytes: Uint8Array, what: string, options: UnpickleOptions): unknown => {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder();
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let p = 0;
  let built = 0;
  const fail = (m: string) => new PipelineError('bad_embedding', `${what}: ${m}`);
  /** Counts `n` values built; past the cap the pickle is refused, whatever it was building. */
  const charge = (n: number) => {
    built += n;
    if (built > limits.pickleObjects) throw fail(`pickle builds more than ${limits.pickleObjects} values`);
  };
  const push = (x: unknown) => {
    charge(1);
    stack.push(x);
  };
  const need = (n: number) => {
    if (p + n > bytes.byteLength) throw fail('truncated pickle');
    const at = p;
    p += n;
    return at;
  };
  const u8 = () => bytes[need(1)];
  const u32 = () => v.getUint32(need(4), true);
  const str = (n: number) => text.decode(bytes.subarray(need(n), p));
  const line = () => {
    const end = bytes.indexOf(0x0a, p);
    if (end < 0) throw fail('truncated pickle');
    return str(end - p + 1).slice(0, -1);
  };
  const popMark = (): unknown[] => {
    const at = stack.lastIndexOf(MARK);
    if (at < 0) throw fail('corrupt pickle (no mark)');
    return stack.splice(at).slice(1);
  };
  /** The top `n` values, which must be there and be values (a MARK is not one). */
  const pop = (n: number): unknown[] => {
    if (stack.length < n) throw fail(`corrupt pickle (opcode at byte ${p - 1} needs ${n} values on the stack)`);
    const xs = stack.splice(stack.length - n);
    if (xs.includes(MARK)) throw fail(`corrupt pickle (a mark where opcode at byte ${p - 1} needs a value)`);
    return xs;
  };
  const top = () => {
    if (stack.length === 0) throw fail('corrupt pickle (empty stack)');
    return stack[stack.length - 1];
  };
  const remember = (slot: number) => {
    if (!memo.has(slot) && memo.size >= limits.pickleMemoEntries)
      throw fail(`pickle memoises more than ${limits.pickleMemoEntries} values`);
    memo.set(slot, top());
  };
  const recall = (slot: number) => {
    if (!memo.has(slot)) throw fail(`corrupt pickle (memo slot ${slot} is empty)`);
    push(memo.get(slot));
  };
  const long = (n: number) => {
    // torch.save's integers (sizes, strides, offsets, element counts) are int64: 8 bytes at most.
    if (n > limits.pickleIntBytes)
      throw fail(`pickle holds a ${n}-byte integer; at most ${limits.pickleIntBytes} bytes are supported`);
    const at = need(n);
    let x = 0n;
    for (let i = n - 1; i >= 0; i--) x = (x << 8n) | BigInt(bytes[at + i]);
    if (n && bytes[at + n - 1] & 0x80) x -= 1n << BigInt(8 * n); // two's complement, little-endian
    return Number.isSafeInteger(Number(x)) ? Number(x) : x;
  };
  const global = (fn: unknown, why: string): PyGlobal => {
    if (!(fn instanceof PyGlobal)) throw fail(`corrupt pickle (${why} something that is not a global)`);
    return fn;
  };
  const call = (fn: unknown, args: unknown) => {
    const g = global(fn, 'calls');
    if (!Array.isArray(args)) throw fail(`corrupt pickle (${g.path} is called with arguments that are not a tuple)`);
    const own = options.call?.[g.path];
    if (own) return own(...args);
    const f = builtins[g.path];
    if (!f) return new PyObject(g.path, args);
    const x = f(...args);
    charge(sizeOf(x)); // a builtin copies its argument: a memoised list turned into a dict per opcode
    return x;
  };
  const list = (): unknown[] => {
    const l = top();
    if (!Array.isArray(l)) throw fail('corrupt pickle (appends to something that is not a list)');
    return l;
  };
  const setItems = (d: unknown, kv: unknown[]) => {
    if (!(d instanceof Map)) throw fail('corrupt pickle (items set on something that is not a dict)');
    if (kv.length % 2) throw fail('corrupt pickle (a dict key without a value)');
    for (let i = 0; i < kv.length; i += 2) d.set(kv[i], kv[i + 1]);
  };
  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80:
        u8();
        break; // PROTO
      case 0x95:
        need(8);
        break; // FRAME: a length hint only
      case 0x2e:
        return pop(1)[0]; // STOP
      case 0x28:
        stack.push(MARK);
        break; // MARK
      case 0x7d:
        push(new Map());
        break; // EMPTY_DICT
      case 0x5d:
      case 0x29:
        push([]);
        break; // EMPTY_LIST, EMPTY_TUPLE
      case 0x8f:
        push(new Set());
        break; // EMPTY_SET
      case 0x74:
        push(popMark());
        break; // TUPLE
      case 0x85:
        push(pop(1));
        break; // TUPLE1
      case 0x86:
        push(pop(2));
        break; // TUPLE2
      case 0x87:
        push(pop(3));
        break; // TUPLE3
      case 0x91:
        push(new Set(popMark()));
        break; // FROZENSET
      case 0x4e:
        push(null);
        break; // NONE
      case 0x88:
        push(true);
        break; // NEWTRUE
      case 0x89:
        push(false);
        break; // NEWFALSE
      case 0x4b:
        push(u8());
        break; // BININT1
      case 0x4d:
        push(v.getUint16(need(2), true));
        break; // BININT2
      case 0x4a:
        push(v.getInt32(need(4), true));
        break; // BININT
      case 0x8a:
        push(long(u8()));
        break; // LONG1
      case 0x8b:
        push(long(u32()));
        break; // LONG4
      case 0x47:
        push(v.getFloat64(need(8), false));
        break; // BINFLOAT (big-endian)
      case 0x58:
        push(str(u32()));
        break; // BINUNICODE
      case 0x8c:
        push(str(u8()));
        break; // SHORT_BINUNICODE
      case 0x8d:
        push(str(Number(v.getBigUint64(need(8), true))));
        break; // BINUNICODE8
      case 0x55:
        push(str(u8()));
        break; // SHORT_BINSTRING
      case 0x54:
        push(str(u32()));
        break; // BINSTRING
      case 0x43: {
        const n = u8();
        push(bytes.slice(need(n), p));
        break;
      } // SHORT_BINBYTES
      case 0x42: {
        const n = u32();
        push(bytes.slice(need(n), p));
        break;
      } // BINBYTES
      case 0x71:
        remember(u8());
        break; // BINPUT
      case 0x72:
        remember(u32());
        break; // LONG_BINPUT
      case 0x94:
        remember(memo.size);
        break; // MEMOIZE
      case 0x68:
        recall(u8());
        break; // BINGET
      case 0x6a:
        recall(u32());
        break; // LONG_BINGET
      case 0x30:
        pop(1);
        break; // POP
      case 0x31:
        popMark();
        break; // POP_MARK
      case 0x32:
        push(top());
        break; // DUP
      case 0x63: {
        const module = line();
        push(new PyGlobal(`${module}.${line()}`));
        break;
      } // GLOBAL
      case 0x93: {
        const [m, n] = pop(2);
        if (typeof m !== 'string' || typeof n !== 'string')
          throw fail('corrupt pickle (a global named by non-strings)');
        push(new PyGlobal(`${m}.${n}`));
        break;
      } // STACK_GLOBAL
      case 0x52: {
        const [fn, args] = pop(2);
        push(call(fn, args));
        break;
      } // REDUCE
      case 0x81: {
        const [cls, args] = pop(2);
        push(new PyObject(global(cls, 'instantiates').path, Array.isArray(args) ? args : []));
        break;
      } // NEWOBJ
      case 0x92: {
        const [cls, args] = pop(3);
        push(new PyObject(global(cls, 'instantiates').path, Array.isArray(args) ? args : []));
        break;
      } // NEWOBJ_EX
      case 0x62: {
        // BUILD: set an object's state (dicts' state is merged, as __setstate__-less classes do)
        const [state] = pop(1);
        const obj = top();
        if (obj instanceof PyObject) obj.state = state;
        else if (obj instanceof Map && state instanceof Map) {
          charge(state.size); // each entry is copied, and a memoised state can be applied once per opcode
          for (const [k, x] of state) obj.set(k, x);
        }
        break;
      }
      case 0x51:
        push(options.persistentLoad?.(pop(1)[0]) ?? null);
        break; // BINPERSID
      case 0x73: {
        const kv = pop(2);
        setItems(top(), kv);
        break;
      } // SETITEM
      case 0x75: {
        const kv = popMark();
        setItems(top(), kv);
        break;
      } // SETITEMS
      case 0x61: {
        const [x] = pop(1);
        list().push(x);
        break;
      } // APPEND
      case 0x65: {
        const xs = popMark();
        const l = list();
        for (const x of xs) l.push(x); // a loop: spreading many values overflows the call stack
        break;
      } // APPENDS
      case 0x90: {
        const xs = popMark();
        const set = top();
        if (!(set instanceof Set)) throw fail('corrupt pickle (adds items to something that is not a set)');
        for (const x of xs) set.add(x);
        break;
      } // ADDITEMS
      default:
        throw fail(`unsupported pickle opcode 0x${op.toString(16)} at byte ${p - 1} (not a torch.save file?)`);
    }
  }
};
