#!/usr/bin/python3
"""ONNX Runtime as the speed anchor (issue 19): ORT's forward against gradattr's forward,
input-grad, Grad-CAM path and full backward on the same ONNX files, alternating, in one run.

Usage (as in docs/benchmarks.md, "ONNX Runtime as the anchor"):
    flock /tmp/gradattr-build.lock env OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 benchmarks/compare_onnxruntime.py \\
        --build build --repeat 5 --rounds 3 --profile --json build/compare_onnxruntime/results.json \\
        --markdown build/compare_onnxruntime/table.md
    ... --models resnet50 --batches 1 --threads 2 --rounds 1      (one row)

What it does:
 1. ONNX Runtime: `npm install --ignore-scripts onnxruntime-node@1.30.0` into <build>/onnxruntime
    (skipped when already there; the install script would only fetch GPU binaries). Without
    node/npm, or when the install fails: a message, and every ORT cell reads "skipped".
    benchmarks/ort_runner.js runs it: intra-op threads = --threads, inter-op 1, graph
    optimisation 'all', sequential execution, CPU provider.
 2. The FMA peak: <build>/benchmarks/bench_fma_peak (built with GRADATTR_BUILD_BENCHMARKS=ON),
    1 and 2 threads, when the binary exists.
 3. The models: tools/export_torchvision.py --dynamic-batch (seeded weights, seed --seed,
    BatchNorm calibrated, opset 17, batch dimension symbolic) into <build>/compare_onnxruntime/
    when missing: vgg19, resnet50, mobilenet_v2, efficientnet_b0, vit_b_16. gradattr's loader
    takes the symbolic batch (bench --batch 8, classify --input [8,...]); should one model's
    file be refused at batch > 1, that model falls back to one fixed-batch file per batch.
    A model gradattr cannot load (ViT-B/16 today: issue 15) keeps its ORT cells and reads
    "skipped: <the loader's message>" in gradattr's.
 4. The logit check: one seeded N(0,1) input [max batch,3,H,W] (numpy, written as NPY), fed
    to `ort_runner.js --input x.npy --save-logits` and `gradattr classify --input x.npy
    --save-logits`: max |z_gradattr - z_ORT| <= 1e-4 * max |z_ORT|.
 5. Timing: for each model, threads, batch: --rounds rounds, each one ORT process (forward)
    and one gradattr process per workload (`gradattr bench --weights f --workload w --batch B
    --threads T --repeat R`), alternating which engine goes first. Each process: one warm-up,
    --repeat timed runs, its median; a cell is the median over rounds of those medians, and
    the process's peak RSS (os.wait4; the max over rounds) stands beside it. ORT's processes
    are node (~45 MB of its own). OMP_NUM_THREADS = threads; OMP_WAIT_POLICY=PASSIVE unless
    set otherwise (gradattr uses libgomp; on a shared machine spinning waits make it erratic).
 6. --profile: per model at --profile-batch and the largest --threads, ORT with session
    profiling (its JSON trace: "Node" events "<node>_kernel_time", dur in µs; the warm-up run
    dropped, median over the rest) and `gradattr bench --workload forward --profile`
    (rows `profile forward forward node=<name> op=<op> shape=<AxBxCxD> seconds=<s> calls=<n>
    gflop=<per call> gflops=<G|-> share=<%>`; a fused step is one row under its first node's
    name, op e.g. `Conv[1x1]+Add+Relu`), matched node by node (below), the ten nodes where gradattr
    loses most printed side by side with GFLOP/s, % of the FMA peak and what bounds them.
    gradattr's older per-op rows (`profile <w> <phase> <op> seconds= calls= share=`) are
    compared per op type instead.

Node matching: ORT names a fused node after its output value (`/layer1/layer1.0/relu/
Relu_output_0_nchwc`: Conv+Relu in the NCHWc layout). Each ORT node is anchored to the ONNX
node producing that value (or of that name); an ONNX node ORT fused away is attributed to the
ORT node it was fused into: a Conv/Gemm/MatMul forward along its single consumer, any other
op (BatchNormalization, Relu, Add, ...) backward along its first input, until an anchored
node. A gradattr row's node name goes through the same map; a name not in the ONNX graph is
matched to the ORT node with the longest common module prefix (`/layer4/layer4.2/...`).

Targets (issue 19, ratios of medians in one run): forward <= 1.0x ORT's forward, input-grad
<= 2.5x, gradcam <= 1.3x, per-image time at batch 8 <= batch 1's, peak RSS <= ORT's + the
saved activations (every float intermediate of the graph, from ONNX shape inference, x batch).
"""
import argparse
import datetime
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
TOOLS = os.path.join(ROOT, "tools")
ORT_VERSION = "1.30.0"
WORKLOADS = ["forward", "input-grad", "gradcam", "full"]
MODELS = ["vgg19", "resnet50", "mobilenet_v2", "efficientnet_b0", "vit_b_16"]
TITLES = {"vgg19": "VGG19", "resnet50": "ResNet-50", "mobilenet_v2": "MobileNetV2",
          "efficientnet_b0": "EfficientNet-B0", "vit_b_16": "ViT-B/16"}
TARGETS = {"forward": 1.0, "input-grad": 2.5, "gradcam": 1.3}
LOGIT_RTOL = 1e-4


def log(msg):
    print(msg, flush=True)


# --- child processes ---------------------------------------------------------------------

# The child's peak RSS is read by a tiny launcher: on Linux a process's ru_maxrss starts at the
# RSS of the process that forked it (exec keeps the old mm's high-water mark), and this script
# holds ONNX graphs; the launcher is a bare python (-S -I, ~10 MB) that forks the real child and
# writes its ru_maxrss (wait4) to a file.
_LAUNCHER = ("import os,sys\n"
             "pid=os.fork()\n"
             "if pid==0:\n"
             "    os.execvp(sys.argv[2],sys.argv[2:])\n"
             "_,st,ru=os.wait4(pid,0)\n"
             "open(sys.argv[1],'w').write(str(ru.ru_maxrss))\n"
             "sys.exit(os.waitstatus_to_exitcode(st) & 255)\n")


def run_child(cmd, env, cwd=None):
    """(returncode, stdout, stderr, peak RSS in MB, wall s) of one process."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile("r", suffix=".rss") as rss:
        t0 = time.time()
        p = subprocess.run(["/usr/bin/python3", "-S", "-I", "-c", _LAUNCHER, rss.name, *cmd],
                           stdout=out, stderr=err, env=env, cwd=cwd)
        wall = time.time() - t0
        out.seek(0)
        err.seek(0)
        kb = rss.read().strip()
        return p.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"), \
            (int(kb) / 1024.0 if kb else float("nan")), wall


def loader_message(msg):
    """gradattr's unsupported-ops message, the node list folded into its op types."""
    m = re.match(r"(.*?node\(s\) use ops gradattr does not run[^:]*): (.*?)(; docs/.*)?$", msg)
    if not m:
        return msg
    ops = list(dict.fromkeys(re.findall(r"\((\w+)\)", m.group(2))))
    more = " and more" if "..." in m.group(2) else ""
    return f"{m.group(1)}: op types {', '.join(ops)}{more}"


def first_error_line(text, limit=300):
    lines = [ln for ln in text.strip().splitlines() if ln.strip() and not ln.startswith("\r")]
    msg = lines[-1] if lines else "(no message)"
    msg = msg.split("\r")[-1].strip()
    return msg if len(msg) <= limit else msg[:limit] + " ..."


# --- ONNX Runtime (node) -----------------------------------------------------------------

def ensure_ort(build):
    """The ORT install dir, or (None, reason)."""
    d = os.path.join(build, "onnxruntime")
    pkg = os.path.join(d, "node_modules", "onnxruntime-node", "package.json")
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node:
        return None, "node is not installed (ONNX Runtime runs through onnxruntime-node)"
    if os.path.exists(pkg):
        with open(pkg) as f:
            v = json.load(f).get("version")
        if v == ORT_VERSION:
            return d, None
        log(f"onnxruntime-node {v} in {d}, want {ORT_VERSION}: reinstalling")
    if not npm:
        return None, "npm is not installed: cannot install onnxruntime-node"
    os.makedirs(d, exist_ok=True)
    log(f"installing onnxruntime-node@{ORT_VERSION} into {d} (npm install --ignore-scripts)")
    p = subprocess.run([npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", f"onnxruntime-node@{ORT_VERSION}"],
                       cwd=d, capture_output=True, text=True)
    if p.returncode != 0 or not os.path.exists(pkg):
        return None, f"npm install onnxruntime-node@{ORT_VERSION} failed: {first_error_line(p.stderr or p.stdout)}"
    return d, None


def ort_cmd(args, model, batch, threads, repeat, extra=()):
    return ["node", os.path.join(HERE, "ort_runner.js"), "--model", model, "--batch", str(batch),
            "--threads", str(threads), "--repeat", str(repeat), *extra]


def run_ort(args, env, model, batch, threads, extra=()):
    rc, out, err, peak, _ = run_child(ort_cmd(args, model, batch, threads, args.repeat, extra), env)
    if rc != 0:
        return {"error": first_error_line(err)}
    r = json.loads(out.strip().splitlines()[-1])
    r["peak_mb"] = peak  # the process's own maxrss (wait4), as for gradattr
    return r


# --- gradattr ----------------------------------------------------------------------------

BENCH_RE = re.compile(r"^(\S+) batch=(\d+) median_s=([\d.e+-]+) min_s=([\d.e+-]+) max_s=([\d.e+-]+)", re.M)


def run_gradattr(args, env, model, workload, batch, threads, profile=False, repeat=None):
    cmd = [args.gradattr, "bench", "--weights", model, "--workload", workload, "--batch", str(batch),
           "--threads", str(threads), "--repeat", str(repeat or args.repeat)]
    if profile:
        cmd.append("--profile")
    rc, out, err, peak, _ = run_child(cmd, env)
    if rc != 0:
        return {"error": first_error_line(err or out)}
    m = BENCH_RE.search(out)
    if not m:
        return {"error": f"cannot parse gradattr bench output: {out[:200]!r}"}
    return {"median_s": float(m.group(3)), "min_s": float(m.group(4)), "max_s": float(m.group(5)),
            "peak_mb": peak, "stdout": out if profile else None}


def parse_gradattr_profile(text, workload="forward"):
    """Rows of `gradattr bench --profile` for one workload: (total seconds, rows).  A row:
    {"phase", "node", "op", "shape", "seconds", "gflops", "share"}; the older per-op format
    (`profile <w> <phase> <op> seconds= calls= share=`) gives rows with node None."""
    total, rows = None, []
    for line in text.splitlines():
        tok = line.split()
        if len(tok) < 4 or tok[0] != "profile" or tok[1] != workload:
            continue
        if tok[2] == "total":
            kv = dict(t.split("=", 1) for t in tok[3:] if "=" in t)
            total = float(kv.get("seconds", "nan"))
            continue
        phase, rest = tok[2], tok[3:]
        kv, loose = {}, []
        for t in rest:
            k, sep, v = t.partition("=")
            if sep and k in ("node", "op", "shape", "seconds", "gflop", "gflops", "share", "calls"):
                kv[k] = v
            else:
                loose.append(t)
        if "node" not in kv and loose:  # old format: the op is the first free token
            kv["op"] = loose[0]
        num = lambda k: float(kv[k]) if kv.get(k, "-") != "-" else None  # noqa: E731  ("gflops=-": no FLOPs)
        rows.append({"phase": phase, "node": kv.get("node"), "op": kv.get("op"), "shape": kv.get("shape"),
                     "seconds": float(kv.get("seconds", "nan")), "gflops": num("gflops"),
                     "share": float(kv["share"].rstrip("%")) if "share" in kv else None,
                     "calls": int(kv["calls"]) if "calls" in kv else None})
    return total, rows


# --- ONNX Runtime profile ----------------------------------------------------------------

def parse_ort_profile(path):
    """Per-node kernel times of an ORT profile JSON (the first model_run, the warm-up,
    dropped; median over the others, node by node): {name: {"seconds", "op", "shape"}}, in execution order."""
    with open(path) as f:
        ev = json.load(f)
    runs = sorted((e["ts"], e["ts"] + e["dur"]) for e in ev if e.get("cat") == "Session" and e.get("name") == "model_run")
    keep = runs[1:] if len(runs) > 1 else runs
    per = {}
    order = []
    for e in ev:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time"):
            continue
        if not any(a <= e["ts"] <= b for a, b in keep):
            continue
        name = e["name"][:-len("_kernel_time")]
        args = e.get("args", {})
        if name not in per:
            order.append(name)
            shp = args.get("output_type_shape") or [{}]
            dims = next(iter(shp[0].values()), []) if shp and isinstance(shp[0], dict) else []
            per[name] = {"op": args.get("op_name", "?"), "shape": "x".join(str(d) for d in dims), "us": []}
        per[name]["us"].append(e["dur"])
    # the median over runs, node by node: one run disturbed by another process does not count
    return {k: {"seconds": statistics.median(per[k]["us"]) * 1e-6, "op": per[k]["op"], "shape": per[k]["shape"]}
            for k in order}


class OnnxGraph:
    """Node/value maps of the exported graph (no weights needed)."""

    def __init__(self, path):
        import onnx
        m = onnx.load(path, load_external_data=False)
        self.nodes = {}
        self.producer, self.consumers = {}, {}
        for i, n in enumerate(m.graph.node):
            name = n.name or f"{n.op_type}_{i}"
            self.nodes[name] = {"op": n.op_type, "inputs": list(n.input), "outputs": list(n.output)}
            for o in n.output:
                self.producer[o] = name
            for x in n.input:
                self.consumers.setdefault(x, []).append(name)

    def anchor(self, ort_name):
        """The ONNX node an ORT node name stands for, or None (ReorderInput/Output, ...)."""
        s = ort_name
        while True:
            if s in self.nodes:
                return s
            if s in self.producer:
                return self.producer[s]
            for suf in ("_nchwc", "_fused", "_token"):
                if s.endswith(suf):
                    s = s[:-len(suf)]
                    break
            else:
                return None


def common_prefix(a, b):
    pa, pb = a.strip("/").split("/"), b.strip("/").split("/")
    k = 0
    while k < min(len(pa), len(pb)) and pa[k] == pb[k]:
        k += 1
    return k


class NodeMatcher:
    """ONNX node (or gradattr row name) -> the ORT profile node that computes it."""

    def __init__(self, graph, ort_names):
        self.g = graph
        self.ort_names = list(ort_names)
        self.by_anchor = {}
        for name in self.ort_names:
            a = graph.anchor(name) if graph else None
            if a and a not in self.by_anchor:
                self.by_anchor[a] = name

    def _walk(self, node):
        g, seen = self.g, set()
        cur = node
        for _ in range(12):
            if cur in self.by_anchor:
                return self.by_anchor[cur]
            if cur in seen or cur not in g.nodes:
                return None
            seen.add(cur)
            n = g.nodes[cur]
            if n["op"] in ("Conv", "Gemm", "MatMul", "ConvTranspose"):
                cons = g.consumers.get(n["outputs"][0], [])
                if len(cons) != 1:
                    return None
                cur = cons[0]
            else:
                prods = [g.producer[x] for x in n["inputs"] if x in g.producer]
                if not prods:
                    return None
                # the producer ORT fuses this node into: a Conv/Gemm/MatMul feeding only it
                # (a residual Add's other input comes from an earlier block), else the first input
                convs = [p for p in prods if g.nodes[p]["op"] in ("Conv", "Gemm", "MatMul")
                         and len(g.consumers.get(g.nodes[p]["outputs"][0], [])) == 1]
                cur = convs[0] if convs else prods[0]
        return None

    def match(self, name):
        if name in self.ort_names:
            return name, "exact"
        if self.g:
            node = name if name in self.g.nodes else self.g.producer.get(name)
            if node:
                hit = self._walk(node)
                if hit:
                    return hit, "exact" if node in self.by_anchor else "graph"
        best, k = None, 0
        for o in self.ort_names:
            anchor = (self.g.anchor(o) if self.g else None) or o
            c = common_prefix(name, anchor)
            if c > k:
                best, k = o, c
        return (best, "prefix") if best else (None, "none")


# Op classes for the per-op comparison: ORT's fused kernels beside the ops they stand for.
OP_CLASS = {"FusedConv": "Conv", "Conv": "Conv",
            "Gemm": "Gemm/Linear", "FusedGemm": "Gemm/Linear", "Linear": "Gemm/Linear", "MatMul": "Gemm/Linear",
            "QuickGelu": "SiLU/SE (Sigmoid, Mul; ORT QuickGelu)", "Sigmoid": "SiLU/SE (Sigmoid, Mul; ORT QuickGelu)",
            "Mul": "SiLU/SE (Sigmoid, Mul; ORT QuickGelu)",
            "ReorderInput": "layout (ORT NCHWc reorders)", "ReorderOutput": "layout (ORT NCHWc reorders)",
            "Reshape": "Reshape/Flatten", "Flatten": "Reshape/Flatten"}


def bound_of(op, ort_s, ga_s, ga_gflops, peak):
    """What bounds a node, roughly, from the roofline: near the FMA peak: compute; layout
    reorders: layout; tiny kernels: overhead; elementwise / pooling: memory traffic."""
    o = (op or "").lower()
    if "reorder" in o or "transpose" in o:
        return "layout conversion"
    if max(ga_s, ort_s or 0) < 30e-6:
        return "overhead"
    if any(k in o for k in ("conv", "gemm", "matmul", "linear")):
        if peak and ga_gflops:
            f = ga_gflops / peak
            if f >= 0.6:
                return f"compute ({100 * f:.0f}% of peak)"
            ort_f = ga_gflops * ga_s / ort_s / peak if ort_s else None
            tail = f", ORT {100 * ort_f:.0f}%" if ort_f else ""
            return f"kernel efficiency ({100 * f:.0f}% of peak{tail})"
        return "compute"
    return "memory traffic"


def profile_compare(args, env, model_title, onnx_path, batch, threads, peak):
    """Both engines' per-node forward profiles, printed side by side (markdown); returns the text."""
    out = []
    prefix = os.path.join(args.workdir, f"ortprof_{os.path.basename(onnx_path)[:-5]}_b{batch}_t{threads}")
    for f in os.listdir(args.workdir):
        if f.startswith(os.path.basename(prefix)) and f.endswith(".json"):
            os.remove(os.path.join(args.workdir, f))
    ort = run_ort(args, env, onnx_path, batch, threads, ["--profile", prefix]) if args.ort_dir else {"error": "skipped"}
    ga = run_gradattr(args, env, onnx_path, "forward", batch, threads, profile=True, repeat=1)
    out.append(f"\n#### {model_title}, batch {batch}, {threads} thread(s): forward, node by node\n")
    if "error" in ga:
        out.append(f"gradattr: {ga['error']}\n")
        return "\n".join(out)
    total, rows = parse_gradattr_profile(ga["stdout"], "forward")
    rows = [r for r in rows if r["phase"] == "forward"]
    if "error" in ort or not ort.get("profile_file"):
        out.append(f"ONNX Runtime profile: {ort.get('error', 'no profile file written')}\n")
        ort_nodes = {}
    else:
        ort_nodes = parse_ort_profile(ort["profile_file"])
    ort_total = sum(v["seconds"] for v in ort_nodes.values())
    out.append(f"gradattr forward (profiled run): {total or float('nan'):.4f} s; ORT kernel time (node by node "
               f"median of {max(args.repeat, 1)} profiled runs): {ort_total:.4f} s\n")
    if ort_nodes:
        by_op = {}
        for v in ort_nodes.values():
            by_op[v["op"]] = by_op.get(v["op"], 0.0) + v["seconds"]
        out.append("ORT time per op type: " + ", ".join(
            f"{k} {100 * s / ort_total:.1f}%" for k, s in sorted(by_op.items(), key=lambda kv: -kv[1])) + "\n")
    if rows and rows[0]["node"] is None:  # the older per-op profile: compare per op type
        ga_op, ort_op = {}, {}
        for r in rows:
            k = OP_CLASS.get(re.split(r"[\[+]", r["op"])[0], re.split(r"[\[+]", r["op"])[0])
            ga_op[k] = ga_op.get(k, 0.0) + r["seconds"]
        for v in ort_nodes.values():
            k = OP_CLASS.get(v["op"], v["op"])
            ort_op[k] = ort_op.get(k, 0.0) + v["seconds"]
        out.append("gradattr prints per-op rows (no node names): compared per op class (ORT's fused ops "
                   "beside the ops they replace).\n")
        out.append("| op class | ORT s | gradattr s | gradattr / ORT | gradattr − ORT s |")
        out.append("|---|---:|---:|---:|---:|")
        for op in sorted(set(ga_op) | set(ort_op), key=lambda o: -(ga_op.get(o, 0) - ort_op.get(o, 0))):
            o_s, g_s = ort_op.get(op, 0.0), ga_op.get(op, 0.0)
            ratio = f"{g_s / o_s:.2f}" if o_s and g_s else "-"
            out.append(f"| {op} | {o_s:.5f} | {g_s:.5f} | {ratio} | {g_s - o_s:+.5f} |")
        profile_compare.tables.append({"model": model_title, "batch": batch, "threads": threads, "per_op": True,
                                       "gradattr": ga_op, "ort": ort_op, "gradattr_total_s": total,
                                       "ort_kernel_total_s": ort_total})
        return "\n".join(out) + "\n"
    graph = OnnxGraph(onnx_path)
    matcher = NodeMatcher(graph, ort_nodes.keys())
    groups = {}
    for r in rows:
        key, how = matcher.match(r["node"]) if ort_nodes else (None, "none")
        gkey = key or f"(gradattr only) {r['node']}"
        g = groups.setdefault(gkey, {"ga_s": 0.0, "ga_flop": 0.0, "ga_rows": [], "how": set(), "shape": r["shape"]})
        g["ga_s"] += r["seconds"]
        g["ga_flop"] += (r["gflops"] or 0.0) * r["seconds"]
        g["ga_rows"].append(f"{r['node']} ({r['op']})")
        g["how"].add(how)
    for name, v in ort_nodes.items():  # ORT nodes gradattr has no row for (reorders, ...)
        groups.setdefault(name, {"ga_s": 0.0, "ga_flop": 0.0, "ga_rows": [], "how": {"ORT only"}, "shape": v["shape"]})
    table = []
    for name, g in groups.items():
        o = ort_nodes.get(name)
        o_s = o["seconds"] if o else 0.0
        ga_gf = g["ga_flop"] / g["ga_s"] if g["ga_s"] > 0 else None
        ort_gf = g["ga_flop"] / o_s if o_s > 0 and g["ga_flop"] > 0 else None
        op = o["op"] if o else (g["ga_rows"][0].rsplit("(", 1)[-1].rstrip(")") if g["ga_rows"] else "?")
        table.append({"ort_node": name, "op": op, "shape": g["shape"] or (o["shape"] if o else ""), "ort_s": o_s,
                      "ga_s": g["ga_s"], "loss_s": g["ga_s"] - o_s, "ga_gflops": ga_gf, "ort_gflops": ort_gf,
                      "gradattr_rows": g["ga_rows"], "match": ",".join(sorted(g["how"])),
                      "bound": bound_of(op, o_s, g["ga_s"], ga_gf, peak)})
    table.sort(key=lambda t: -t["loss_s"])
    pk = f" (FMA peak {peak:.0f} GFLOP/s)" if peak else ""
    out.append(f"The ten nodes where gradattr loses most{pk}; GFLOP/s count gradattr's FLOPs of the node:\n")
    out.append("| ORT node | op | shape | ORT s | gradattr s | loss s | ORT GFLOP/s | gradattr GFLOP/s | bound | gradattr rows (match) |")
    out.append("|---|---|---|---:|---:|---:|---:|---:|---|---|")
    fmt = lambda x: f"{x:.0f}" if x else "-"  # noqa: E731
    for t in table[:10]:
        rows_s = "; ".join(t["gradattr_rows"][:3]) + (" ..." if len(t["gradattr_rows"]) > 3 else "")
        out.append(f"| `{t['ort_node']}` | {t['op']} | {t['shape']} | {t['ort_s']:.5f} | {t['ga_s']:.5f} | "
                   f"{t['loss_s']:+.5f} | {fmt(t['ort_gflops'])} | {fmt(t['ga_gflops'])} | {t['bound']} | "
                   f"{rows_s} ({t['match']}) |")
    out.append("")
    profile_compare.tables.append({"model": model_title, "batch": batch, "threads": threads, "nodes": table,
                                   "gradattr_total_s": total, "ort_kernel_total_s": ort_total})
    return "\n".join(out)


profile_compare.tables = []


# --- models, inputs, logits --------------------------------------------------------------

def export(args, name, path, batch=None):
    if os.path.exists(path):
        return
    cmd = [sys.executable, os.path.join(TOOLS, "export_torchvision.py"), "--model", name, "--seed", str(args.seed),
           "--out", path]
    cmd += ["--batch", str(batch)] if batch else ["--dynamic-batch"]
    log(f"exporting {name}{f' (batch {batch})' if batch else ' (dynamic batch)'} -> {path}")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def activation_mb(path, batch):
    """MB of every float intermediate value of the graph at this batch (ONNX shape inference;
    the batch dimension, symbolic or 1, scaled to `batch`): what a tape saving every node's
    output would hold, the upper end of what the gradient needs."""
    import onnx
    m = onnx.shape_inference.infer_shapes(onnx.load(path, load_external_data=False))
    total = 0
    for vi in m.graph.value_info:
        t = vi.type.tensor_type
        if t.elem_type != onnx.TensorProto.FLOAT or not t.HasField("shape"):
            continue
        n = 1
        for i, d in enumerate(t.shape.dim):
            if i == 0:
                n *= batch
            elif d.HasField("dim_value"):
                n *= d.dim_value
            else:
                n = 0
                break
        total += n
    return 4.0 * total / 2**20


def write_input(path, batch, size=224, seed=1):
    import numpy as np
    x = np.random.default_rng(seed).standard_normal((batch, 3, size, size)).astype(np.float32)
    np.save(path, x)


def logit_check(args, env, name, files, batch, threads):
    import numpy as np
    x = os.path.join(args.workdir, f"x_b{batch}.npy")
    if not os.path.exists(x):
        write_input(x, batch)
    path = files[batch]
    zo, zg = os.path.join(args.workdir, f"{name}_b{batch}_ort.npy"), os.path.join(args.workdir, f"{name}_b{batch}_gradattr.npy")
    res = {}
    if args.ort_dir:
        r = run_ort(args, env, path, batch, threads, ["--input", x, "--save-logits", zo])
        if "error" in r:
            res["ort_error"] = r["error"]
    rc, out, err, _, _ = run_child([args.gradattr, "classify", "--weights", path, "--input", x, "--top", "1",
                                    "--save-logits", zg], env)
    if rc != 0:
        res["gradattr_error"] = loader_message(first_error_line(err or out, limit=4000))
    if "ort_error" in res or "gradattr_error" in res or not args.ort_dir:
        return res
    a, b = np.load(zg), np.load(zo)
    if a.shape != b.shape:
        res["error"] = f"logit shapes differ: gradattr {a.shape}, ORT {b.shape}"
        return res
    rel = float(np.abs(a - b).max() / np.abs(b).max())
    res.update({"max_rel": rel, "ok": rel <= LOGIT_RTOL, "argmax_equal": bool((a.argmax(1) == b.argmax(1)).all())})
    return res


def fma_peak(args, env):
    exe = args.fma_bench or os.path.join(args.build, "benchmarks", "bench_fma_peak")
    if not os.path.exists(exe):
        log(f"FMA peak: {exe} not built (cmake -DGRADATTR_BUILD_BENCHMARKS=ON, target bench_fma_peak): skipped")
        return {}
    rc, out, err, _, _ = run_child([exe, *map(str, args.threads)], env)
    peaks = {int(t): float(g) for t, g in re.findall(r"threads=(\d+) gflops=([\d.]+)", out)}
    log("FMA peak: " + ", ".join(f"{t} thread(s) {g:.0f} GFLOP/s" for t, g in sorted(peaks.items())))
    return peaks


# --- the table ---------------------------------------------------------------------------

def cell_time(r):
    if r is None:
        return "-"
    if "skipped" in r:
        return "skipped"
    return f"{r['median_s']:.4f}"


def summarize(runs):
    """Median over rounds of each process's median; max peak RSS; or the first error."""
    errs = [r for r in runs if "error" in r]
    if errs:
        return {"error": errs[0]["error"]}
    if not runs:
        return None
    return {"median_s": statistics.median(r["median_s"] for r in runs), "min_s": min(r["min_s"] for r in runs),
            "peak_mb": max(r["peak_mb"] for r in runs), "rounds": [r["median_s"] for r in runs]}


def markdown(results, args):
    lines, notes = [], {}
    lines.append("| model | batch | threads | ORT forward s | gradattr forward s (×ORT) | input-grad s (×ORT) | "
                 "gradcam s (×ORT) | full s (×ORT) | peak RSS MB: ORT / fwd / ig / cam / full | logits rel. err | missed targets |")
    lines.append("|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
    for row in results:
        o = row["ort"]
        o_s = o["median_s"] if o and "median_s" in o else None
        cells, rss, missed = [], [], []
        rss.append(f"{o['peak_mb']:.0f}" if o_s else "-")
        ga_err = row.get("gradattr_error")
        for w in WORKLOADS:
            r = row["gradattr"].get(w)
            if ga_err:
                cells.append("skipped")
                rss.append("-")
                continue
            if r is None:
                cells.append("-")
                rss.append("-")
                continue
            if "error" in r:
                cells.append(f"error: {r['error'][:60]}")
                rss.append("-")
                continue
            ratio = r["median_s"] / o_s if o_s else None
            cells.append(f"{r['median_s']:.4f} ({ratio:.2f}×)" if ratio else f"{r['median_s']:.4f}")
            rss.append(f"{r['peak_mb']:.0f}")
            if ratio and w in TARGETS and ratio > TARGETS[w]:
                missed.append(f"{w} {ratio:.2f}× > {TARGETS[w]}×")
            budget = row.get("rss_budget_mb")
            if budget and r["peak_mb"] > budget:
                missed.append(f"{w} RSS {r['peak_mb']:.0f} > {budget:.0f} MB")
        lc = row.get("logits") or {}
        lcs = (f"{lc['max_rel']:.1e}" + ("" if lc.get("ok") else " FAIL")) if "max_rel" in lc else "-"
        ort_cell = "skipped" if not o else (f"{o_s:.4f}" if o_s else f"error: {o['error'][:60]}")
        title = TITLES.get(row["model"], row["model"])
        if not o_s and not ga_err:
            missed = ["ORT skipped or failed: no ratios"]
        if ga_err:
            missed = ["gradattr skipped: cannot load the model (below)"]
            notes.setdefault(title, ga_err)
        lines.append(f"| {title} | {row['batch']} | {row['threads']} | {ort_cell} | " + " | ".join(cells) +
                     f" | {' / '.join(rss)} | {lcs} | {'; '.join(missed) or 'none'} |")
    for title, why in notes.items():
        lines.append("")
        lines.append(f"{title}: skipped for gradattr, its loader says: {why}")
    # per-image time, batch 8 against batch 1
    b = sorted(set(r["batch"] for r in results))
    if len(b) >= 2:
        lo, hi = b[0], b[-1]
        lines.append("")
        lines.append(f"Per-image time at batch {hi} over batch {lo}'s (target ≤ 1.00):")
        lines.append("")
        lines.append("| model | threads | ORT forward | gradattr forward | input-grad | gradcam | full |")
        lines.append("|---|---:|---:|---:|---:|---:|---:|")
        key = {(r["model"], r["threads"], r["batch"]): r for r in results}
        for (m, t, bb), r in key.items():
            if bb != lo or (m, t, hi) not in key:
                continue
            r8 = key[(m, t, hi)]

            def per(a, c):
                if not a or not c or "median_s" not in a or "median_s" not in c:
                    return "-"
                v = (c["median_s"] / hi) / (a["median_s"] / lo)
                return f"{v:.2f}" + (" ✗" if v > 1.0 else "")
            cells = [per(r["ort"], r8["ort"])] + [per(r["gradattr"].get(w), r8["gradattr"].get(w)) for w in WORKLOADS]
            lines.append(f"| {TITLES.get(m, m)} | {t} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build", help="the build directory (ORT, models and outputs go under it)")
    ap.add_argument("--gradattr", help="the CLI (default <build>/examples/cli/gradattr)")
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated, of " + ",".join(MODELS))
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per process (after one warm-up); >= 5 for the doc")
    ap.add_argument("--rounds", type=int, default=3, help="alternating ORT/gradattr rounds")
    ap.add_argument("--seed", type=int, default=0, help="the weights' seed (tools/export_torchvision.py)")
    ap.add_argument("--per-batch-files", action="store_true",
                    help="export one fixed-batch file per batch instead of one with a dynamic batch")
    ap.add_argument("--profile", action="store_true", help="also the per-node profiles side by side")
    ap.add_argument("--profile-batch", type=int, default=1)
    ap.add_argument("--no-logit-check", action="store_true")
    ap.add_argument("--fma-bench", help="bench_fma_peak binary (default <build>/benchmarks/bench_fma_peak)")
    ap.add_argument("--json", help="write every measurement here")
    ap.add_argument("--markdown", help="write the tables (and profiles) here too")
    args = ap.parse_args()
    t_start = time.time()
    args.build = os.path.abspath(args.build)
    args.gradattr = os.path.abspath(args.gradattr or os.path.join(args.build, "examples", "cli", "gradattr"))
    args.workdir = os.path.join(args.build, "compare_onnxruntime")
    os.makedirs(args.workdir, exist_ok=True)
    args.batches = [int(x) for x in args.batches.split(",")]
    args.threads = [int(x) for x in args.threads.split(",")]
    models = args.models.split(",")
    workloads = args.workloads.split(",")
    for m in models:
        if m not in MODELS:
            ap.error(f"--models: unknown model {m} (valid: {', '.join(MODELS)})")
    if not os.path.exists(args.gradattr):
        sys.exit(f"compare_onnxruntime: {args.gradattr} not built (cmake --build {args.build} --target gradattr_cli)")

    env = dict(os.environ)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args.ort_dir, why = ensure_ort(args.build)
    if args.ort_dir:
        env["GRADATTR_ORT_DIR"] = args.ort_dir
        log(f"ONNX Runtime: onnxruntime-node {ORT_VERSION} in {args.ort_dir}")
    else:
        log(f"ONNX Runtime: SKIPPED ({why}); its cells read 'skipped'")
    git = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"], capture_output=True, text=True).stdout.strip()
    peaks = fma_peak(args, dict(env, OMP_NUM_THREADS=str(max(args.threads))))

    results, profiles, info = [], [], {}
    for name in models:
        files = {}
        if args.per_batch_files:
            for b in args.batches:
                files[b] = os.path.join(args.workdir, f"{name}_s{args.seed}_b{b}.onnx")
                export(args, name, files[b], b)
        else:
            path = os.path.join(args.workdir, f"{name}_s{args.seed}_dyn.onnx")
            export(args, name, path)
            files = {b: path for b in args.batches}
        # Does gradattr load it (and take the symbolic batch)?  The logit check answers both.
        checks = {}
        bmax = max(args.batches)
        tchk = max(args.threads)
        lc = logit_check(args, dict(env, OMP_NUM_THREADS=str(tchk)), name, files, bmax, tchk)
        if "gradattr_error" in lc and not args.per_batch_files and bmax > 1:
            # one retry at batch 1: a refused symbolic batch falls back to fixed-batch files
            lc1 = logit_check(args, dict(env, OMP_NUM_THREADS=str(tchk)), name, files, min(args.batches), tchk)
            if "gradattr_error" not in lc1:
                log(f"{name}: gradattr refuses the dynamic-batch file at batch {bmax} ({lc['gradattr_error']}): "
                    "one fixed-batch file per batch")
                for b in args.batches:
                    files[b] = os.path.join(args.workdir, f"{name}_s{args.seed}_b{b}.onnx")
                    export(args, name, files[b], b)
                lc = logit_check(args, dict(env, OMP_NUM_THREADS=str(tchk)), name, files, bmax, tchk)
        checks = lc
        ga_error = lc.get("gradattr_error")
        if ga_error:  # "gradattr: <path>: <why>" -> <why>
            ga_error = ga_error.split(": ", 2)[-1] if ga_error.startswith("gradattr: ") else ga_error
        if ga_error:
            log(f"{TITLES[name]}: gradattr cannot load it: {ga_error}")
        elif "max_rel" in lc:
            log(f"{TITLES[name]}: logits (batch {bmax}) max |gradattr - ORT| / max |ORT| = {lc['max_rel']:.2e} "
                f"({'ok' if lc['ok'] else 'FAIL'}, tolerance {LOGIT_RTOL:g}; argmax equal: {lc['argmax_equal']})")
        info[name] = {"files": files, "logits": checks}
        act = {b: activation_mb(files[b], b) for b in args.batches}
        for t in args.threads:
            cenv = dict(env, OMP_NUM_THREADS=str(t))
            for b in args.batches:
                runs = {"ort": [], **{w: [] for w in workloads}}
                for r in range(args.rounds):
                    engines = ["ort", "gradattr"] if r % 2 == 0 else ["gradattr", "ort"]
                    for e in engines:
                        if e == "ort" and args.ort_dir:
                            runs["ort"].append(run_ort(args, cenv, files[b], b, t))
                        elif e == "gradattr" and not ga_error:
                            for w in workloads:
                                runs[w].append(run_gradattr(args, cenv, files[b], w, b, t))
                row = {"model": name, "batch": b, "threads": t, "ort": summarize(runs["ort"]) if args.ort_dir else None,
                       "gradattr": {w: summarize(runs[w]) for w in workloads}, "gradattr_error": ga_error,
                       "logits": checks, "activations_mb": act[b]}
                o = row["ort"]
                if o and "peak_mb" in o:
                    row["rss_budget_mb"] = o["peak_mb"] + act[b]
                results.append(row)
                parts = [f"ORT {cell_time(o) if o and 'median_s' in o else (o or {}).get('error', 'skipped')}"]
                for w in workloads:
                    g = row["gradattr"][w]
                    parts.append(f"{w} " + ("skipped" if ga_error else (cell_time(g) if g and "median_s" in g else
                                                                         (g or {}).get("error", "-"))))
                log(f"{TITLES[name]} batch={b} threads={t}: " + ", ".join(parts) + f"  [{time.time() - t_start:.0f} s]")
        if args.profile and not ga_error:
            tp = max(args.threads)
            pb = args.profile_batch if args.profile_batch in files else min(args.batches)
            profiles.append(profile_compare(args, dict(env, OMP_NUM_THREADS=str(tp)), TITLES[name], files[pb], pb, tp,
                                            peaks.get(tp)))

    elapsed = time.time() - t_start
    cpu = ""
    try:
        cpu = re.search(r"Model name:\s*(.+)", subprocess.run(["lscpu"], capture_output=True, text=True).stdout).group(1)
    except Exception:
        pass
    head = (f"{datetime.date.today().isoformat()}, {cpu}, commit {git}, onnxruntime-node "
            f"{ORT_VERSION if args.ort_dir else '(skipped)'}, OMP_WAIT_POLICY={env.get('OMP_WAIT_POLICY')}, "
            f"repeat {args.repeat}, rounds {args.rounds}, total {elapsed / 60:.1f} min; FMA peak: " +
            (", ".join(f"{t} thread(s) {g:.0f} GFLOP/s" for t, g in sorted(peaks.items())) or "not measured"))
    md = head + "\n\n" + markdown(results, args) + "\n" + "\n".join(profiles)
    print("\n" + md)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"header": head, "fma_peak_gflops": peaks, "ort": ORT_VERSION if args.ort_dir else None,
                       "ort_skipped_reason": why, "commit": git, "repeat": args.repeat, "rounds": args.rounds,
                       "elapsed_s": elapsed, "models": info, "results": results,
                       "profiles": profile_compare.tables}, f, indent=1, default=str)


if __name__ == "__main__":
    main()
