#!/usr/bin/env node
// ONNX Runtime's forward of one ONNX file, timed, for benchmarks/compare_onnxruntime.py.
//
//   node benchmarks/ort_runner.js --model f.onnx [--batch 1] [--threads 1] [--repeat 5]
//        [--input x.npy] [--save-logits z.npy] [--profile PREFIX]
//
// Session options (issue 19): intraOpNumThreads = --threads, interOpNumThreads = 1,
// graphOptimizationLevel 'all', executionMode 'sequential', CPU execution provider.
// Input: --input (float32 NPY, C order, [N,C,H,W]) or N(0,1) from a seeded generator with the
// model's C, H, W and --batch N (the values do not change the time). One warm-up run, then
// --repeat timed runs of session.run; prints one JSON line:
//   {"median_s":..,"min_s":..,"max_s":..,"times":[..],"load_s":..,"peak_mb":..,"ort":"1.30.0"}
// --save-logits: the first output of the warm-up run as float32 NPY.
// --profile PREFIX: ORT session profiling on (enableProfiling, profileFilePrefix = PREFIX);
// the JSON trace is written by session.endProfiling() as PREFIX_<date>.json, and its path is
// added to the output line as "profile_file" (found by the prefix).
// ORT is resolved from $GRADATTR_ORT_DIR/node_modules (the compare script installs it there).
'use strict';
const fs = require('fs');
const path = require('path');

function parseArgs(argv) {
  const a = {batch: 1, threads: 1, repeat: 5};
  for (let i = 0; i < argv.length; ++i) {
    const k = argv[i];
    const v = () => {
      if (i + 1 >= argv.length) throw new Error(`${k} needs a value`);
      return argv[++i];
    };
    if (k === '--model') a.model = v();
    else if (k === '--batch') a.batch = parseInt(v(), 10);
    else if (k === '--threads') a.threads = parseInt(v(), 10);
    else if (k === '--repeat') a.repeat = parseInt(v(), 10);
    else if (k === '--input') a.input = v();
    else if (k === '--save-logits') a.saveLogits = v();
    else if (k === '--profile') a.profile = v();
    else throw new Error(`unknown argument ${k}`);
  }
  if (!a.model) throw new Error('--model is required');
  if (!(a.batch >= 1 && a.threads >= 1 && a.repeat >= 1)) throw new Error('--batch, --threads, --repeat must be >= 1');
  return a;
}

function loadOrt() {
  const dir = process.env.GRADATTR_ORT_DIR;
  const candidates = dir ? [path.join(dir, 'node_modules', 'onnxruntime-node')] : [];
  candidates.push('onnxruntime-node');
  for (const c of candidates) {
    try {
      return require(c);
    } catch (e) {
      if (c === candidates[candidates.length - 1]) throw e;
    }
  }
}

// A float32 NPY reader/writer (version 1.0/2.0 headers, little-endian '<f4', C order).
function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.toString('latin1', 0, 6) !== '\x93NUMPY') throw new Error(`${file}: not an NPY file`);
  const major = buf[6];
  const hlen = major === 1 ? buf.readUInt16LE(8) : buf.readUInt32LE(8);
  const hstart = major === 1 ? 10 : 12;
  const header = buf.toString('latin1', hstart, hstart + hlen);
  if (!/'descr':\s*'<f4'/.test(header)) throw new Error(`${file}: only float32 ('<f4') NPY is supported: ${header}`);
  if (/'fortran_order':\s*True/.test(header)) throw new Error(`${file}: Fortran order is not supported`);
  const shape = header.match(/'shape':\s*\(([^)]*)\)/)[1].split(',').filter((s) => s.trim()).map((s) => parseInt(s, 10));
  const off = hstart + hlen;
  const n = shape.reduce((p, d) => p * d, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; ++i) data[i] = buf.readFloatLE(off + 4 * i);
  return {shape, data};
}

function writeNpy(file, shape, data) {
  let header = `{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  const total = 10 + header.length + 1;
  header += ' '.repeat((64 - (total % 64)) % 64) + '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  const body = Buffer.alloc(4 * data.length);
  for (let i = 0; i < data.length; ++i) body.writeFloatLE(data[i], 4 * i);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
}

// N(0,1) from xorshift64* + Box-Muller, seeded: deterministic, and fast enough for 8x3x224x224.
function seededNormal(n, seed) {
  let s = BigInt(seed) * 0x9E3779B97F4A7C15n + 1n;
  const mask = (1n << 64n) - 1n;
  const next = () => {
    s ^= s >> 12n; s ^= (s << 25n) & mask; s ^= s >> 27n;
    return Number(((s * 0x2545F4914F6CDD1Dn) & mask) >> 11n) / 9007199254740992;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(next(), 1e-300), v = next();
    const r = Math.sqrt(-2 * Math.log(u));
    out[i] = r * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = r * Math.sin(2 * Math.PI * v);
  }
  return out;
}

function median(xs) {
  const t = [...xs].sort((p, q) => p - q);
  const m = t.length >> 1;
  return t.length % 2 ? t[m] : 0.5 * (t[m - 1] + t[m]);
}

async function main() {
  const a = parseArgs(process.argv.slice(2));
  const ort = loadOrt();
  const opts = {
    executionProviders: ['cpu'],
    intraOpNumThreads: a.threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: 'all',
    executionMode: 'sequential',
  };
  if (a.profile) {
    opts.enableProfiling = true;
    opts.profileFilePrefix = a.profile;
  }
  const t0 = process.hrtime.bigint();
  const session = await ort.InferenceSession.create(a.model, opts);
  const loadS = Number(process.hrtime.bigint() - t0) * 1e-9;
  const inName = session.inputNames[0];
  const meta = session.inputMetadata ? session.inputMetadata[0] : null;
  let x;
  if (a.input) {
    const t = readNpy(a.input);
    x = new ort.Tensor('float32', t.data, t.shape);
  } else {
    if (!meta || !meta.shape) throw new Error('no input metadata: pass --input');
    const shape = meta.shape.map((d, i) => (i === 0 ? a.batch : d));
    if (shape.some((d) => typeof d !== 'number')) throw new Error(`symbolic non-batch input dims ${meta.shape}: pass --input`);
    if (typeof meta.shape[0] === 'number' && meta.shape[0] !== a.batch)
      throw new Error(`${a.model} fixes batch ${meta.shape[0]}, asked for --batch ${a.batch}`);
    x = new ort.Tensor('float32', seededNormal(shape.reduce((p, d) => p * d, 1), 1), shape);
  }
  const feeds = {[inName]: x};
  const warm = await session.run(feeds);  // warm-up: allocations, prepacked weights
  if (a.saveLogits) {
    const z = warm[session.outputNames[0]];
    writeNpy(a.saveLogits, z.dims, z.data);
  }
  const times = [];
  for (let r = 0; r < a.repeat; ++r) {
    const s = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - s) * 1e-9);
  }
  const out = {
    median_s: median(times), min_s: Math.min(...times), max_s: Math.max(...times), times, load_s: loadS,
    peak_mb: process.resourceUsage().maxRSS / 1024, batch: x.dims[0], ort: ort.env && ort.env.versions ? ort.env.versions.common : undefined,
  };
  if (a.profile) {
    session.endProfiling();
    const dir = path.dirname(path.resolve(a.profile));
    const base = path.basename(a.profile);
    const files = fs.readdirSync(dir).filter((f) => f.startsWith(base) && f.endsWith('.json'))
      .map((f) => path.join(dir, f)).sort((p, q) => fs.statSync(q).mtimeMs - fs.statSync(p).mtimeMs);
    out.profile_file = files.length ? files[0] : null;
  }
  await session.release();
  process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
  process.stderr.write(`ort_runner: ${e && e.stack ? e.stack : e}\n`);
  process.exit(1);
});
