/**
 * A restricted unpickler for the data pickles `torch.save` writes (protocol 2, and 3–5 opcodes too). It never
 * runs anything: a class or function the pickle names becomes a `PyGlobal`, calling one that the caller did not
 * supply yields an inert `PyObject` record. Dicts become `Map`s, tuples and lists arrays, None `null`.
 */
import { PipelineError } from '../../common/errors.ts';

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
  const fail = (m: string) => new PipelineError('bad_embedding', `${what}: ${m}`);
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
  const top = () => stack[stack.length - 1];
  const long = (n: number) => {
    const at = need(n);
    let x = 0n;
    for (let i = n - 1; i >= 0; i--) x = (x << 8n) | BigInt(bytes[at + i]);
    if (n && bytes[at + n - 1] & 0x80) x -= 1n << BigInt(8 * n); // two's complement, little-endian
    return Number.isSafeInteger(Number(x)) ? Number(x) : x;
  };
  const call = (fn: unknown, args: unknown[]) => {
    if (!(fn instanceof PyGlobal)) throw fail('corrupt pickle (calls something that is not a global)');
    const f = options.call?.[fn.path] ?? builtins[fn.path];
    return f ? f(...args) : new PyObject(fn.path, args);
  };
  const list = (): unknown[] => {
    const l = top();
    if (!Array.isArray(l)) throw fail('corrupt pickle (appends to something that is not a list)');
    return l;
  };
  const setItems = (d: unknown, kv: unknown[]) => {
    if (!(d instanceof Map)) throw fail('corrupt pickle (items set on something that is not a dict)');
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
        return stack.pop(); // STOP
      case 0x28:
        stack.push(MARK);
        break; // MARK
      case 0x7d:
        stack.push(new Map());
        break; // EMPTY_DICT
      case 0x5d:
      case 0x29:
        stack.push([]);
        break; // EMPTY_LIST, EMPTY_TUPLE
      case 0x8f:
        stack.push(new Set());
        break; // EMPTY_SET
      case 0x74:
        stack.push(popMark());
        break; // TUPLE
      case 0x85:
        stack.push(stack.splice(-1));
        break; // TUPLE1
      case 0x86:
        stack.push(stack.splice(-2));
        break; // TUPLE2
      case 0x87:
        stack.push(stack.splice(-3));
        break; // TUPLE3
      case 0x91:
        stack.push(new Set(popMark()));
        break; // FROZENSET
      case 0x4e:
        stack.push(null);
        break; // NONE
      case 0x88:
        stack.push(true);
        break; // NEWTRUE
      case 0x89:
        stack.push(false);
        break; // NEWFALSE
      case 0x4b:
        stack.push(u8());
        break; // BININT1
      case 0x4d:
        stack.push(v.getUint16(need(2), true));
        break; // BININT2
      case 0x4a:
        stack.push(v.getInt32(need(4), true));
        break; // BININT
      case 0x8a:
        stack.push(long(u8()));
        break; // LONG1
      case 0x8b:
        stack.push(long(u32()));
        break; // LONG4
      case 0x47:
        stack.push(v.getFloat64(need(8), false));
        break; // BINFLOAT (big-endian)
      case 0x58:
        stack.push(str(u32()));
        break; // BINUNICODE
      case 0x8c:
        stack.push(str(u8()));
        break; // SHORT_BINUNICODE
      case 0x8d:
        stack.push(str(Number(v.getBigUint64(need(8), true))));
        break; // BINUNICODE8
      case 0x55:
        stack.push(str(u8()));
        break; // SHORT_BINSTRING
      case 0x54:
        stack.push(str(u32()));
        break; // BINSTRING
      case 0x43: {
        const n = u8();
        stack.push(bytes.slice(need(n), p));
        break;
      } // SHORT_BINBYTES
      case 0x42: {
        const n = u32();
        stack.push(bytes.slice(need(n), p));
        break;
      } // BINBYTES
      case 0x71:
        memo.set(u8(), top());
        break; // BINPUT
      case 0x72:
        memo.set(u32(), top());
        break; // LONG_BINPUT
      case 0x94:
        memo.set(memo.size, top());
        break; // MEMOIZE
      case 0x68:
        stack.push(memo.get(u8()));
        break; // BINGET
      case 0x6a:
        stack.push(memo.get(u32()));
        break; // LONG_BINGET
      case 0x30:
        stack.pop();
        break; // POP
      case 0x31:
        popMark();
        break; // POP_MARK
      case 0x32:
        stack.push(top());
        break; // DUP
      case 0x63: {
        const module = line();
        stack.push(new PyGlobal(`${module}.${line()}`));
        break;
      } // GLOBAL
      case 0x93: {
        const [m, n] = stack.splice(-2);
        stack.push(new PyGlobal(`${m}.${n}`));
        break;
      } // STACK_GLOBAL
      case 0x52: {
        const [fn, args] = stack.splice(-2);
        stack.push(call(fn, args as unknown[]));
        break;
      } // REDUCE
      case 0x81: {
        const [cls, args] = stack.splice(-2);
        stack.push(new PyObject((cls as PyGlobal).path, args as unknown[]));
        break;
      } // NEWOBJ
      case 0x92: {
        const [cls, args] = stack.splice(-3);
        stack.push(new PyObject((cls as PyGlobal).path, args as unknown[]));
        break;
      } // NEWOBJ_EX
      case 0x62: {
        // BUILD: set an object's state (dicts' state is merged, as __setstate__-less classes do)
        const state = stack.pop();
        const obj = top();
        if (obj instanceof PyObject) obj.state = state;
        else if (obj instanceof Map && state instanceof Map) for (const [k, x] of state) obj.set(k, x);
        break;
      }
      case 0x51:
        stack.push(options.persistentLoad?.(stack.pop()) ?? null);
        break; // BINPERSID
      case 0x73: {
        const [k, x] = stack.splice(-2);
        setItems(top(), [k, x]);
        break;
      } // SETITEM
      case 0x75: {
        const kv = popMark();
        setItems(top(), kv);
        break;
      } // SETITEMS
      case 0x61: {
        const x = stack.pop();
        list().push(x);
        break;
      } // APPEND
      case 0x65: {
        const xs = popMark();
        list().push(...xs);
        break;
      } // APPENDS
      case 0x90: {
        const xs = popMark();
        for (const x of xs) (top() as Set<unknown>).add(x);
        break;
      } // ADDITEMS
      default:
        throw fail(`unsupported pickle opcode 0x${op.toString(16)} at byte ${p - 1} (not a torch.save file?)`);
    }
  }
};
