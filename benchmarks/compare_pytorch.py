#!/usr/bin/env python3
"""Run the same end-to-end VGG19 workloads in PyTorch and in gradattr, alternating, in one session.

Usage (as in docs/benchmarks.md):
    OMP_NUM_THREADS=2 /usr/bin/python3 benchmarks/compare_pytorch.py --gradattr build/examples/cli/gradattr \
        --threads 2 --batch 1 --size 224 --repeat 5 --rounds 3

Each (framework, workload) runs in its own subprocess, so peak memory (max RSS) is measured per
workload. Rounds alternate gradattr and PyTorch to spread the machine's noise over both. Reported:
median over rounds of each run's median time, and the ratio gradattr / PyTorch (< 1: gradattr faster).

PyTorch gets its best setup: torch.set_num_threads equal to ours, inference in eval mode, and
OpenBLAS (libopenblas0-pthread) for its dense layers; it uses oneDNN (mkldnn) for convolutions.
Both sides use seeded random weights: speed does not depend on the weight values.
"""
import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time

WORKLOADS = ["forward", "input-grad", "gradcam", "full"]


def torch_worker(args):
    import torch
    import torchvision

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torchvision.models.vgg19().eval()
    x = torch.randn(args.batch, 3, args.size, args.size)
    cut = 36  # features[:36] ends with features.35, the last ReLU before the last pool

    def forward():
        with torch.no_grad():
            model(x)

    def input_grad():
        xi = x.clone().requires_grad_(True)
        z = model(xi)
        c = z.argmax(1)
        z.gather(1, c[:, None]).sum().backward()

    def gradcam():
        with torch.no_grad():
            a = model.features[:cut](x)
        a.requires_grad_(True)
        h = model.features[cut:](a)
        h = torch.flatten(model.avgpool(h), 1)
        z = model.classifier(h)
        c = z.argmax(1)
        (g,) = torch.autograd.grad(z.gather(1, c[:, None]).sum(), a)
        (g.mean((2, 3), keepdim=True) * a).sum(1)

    def full():
        model.zero_grad(set_to_none=True)
        xi = x.clone().requires_grad_(True)
        z = model(xi)
        c = z.argmax(1)
        z.gather(1, c[:, None]).sum().backward()

    for p in model.parameters():
        p.requires_grad_(args.workload == "full")
    fn = {"forward": forward, "input-grad": input_grad, "gradcam": gradcam, "full": full}[args.workload]
    fn()  # warm-up
    times = []
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times), "peak_mb": peak_mb}))


def run_child(cmd, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    p = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"compare_pytorch: {' '.join(cmd)} failed ({p.returncode}):\n{p.stderr}")
    return p.stdout, before


def run_torch(args, workload, env):
    cmd = [sys.executable, __file__, "--torch-worker", "--workload", workload, "--threads", str(args.threads),
           "--batch", str(args.batch), "--size", str(args.size), "--repeat", str(args.repeat)]
    out, _ = run_child(cmd, env)
    return json.loads(out.strip().splitlines()[-1])


def run_gradattr(args, workload, env):
    # /usr/bin/time is not always installed: measure max RSS of the child with a tiny wrapper.
    cmd = [sys.executable, "-c",
           "import resource,subprocess,sys;"
           "r=subprocess.run(sys.argv[1:]);"
           "print('peak_mb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024.0);"
           "sys.exit(r.returncode)",
           args.gradattr, "bench", "--arch", "vgg19", "--size", str(args.size), "--batch", str(args.batch),
           "--repeat", str(args.repeat), "--threads", str(args.threads), "--workload", workload]
    out, _ = run_child(cmd, env)
    m = re.search(r"^(\S+) batch=(\d+) median_s=([\d.e+-]+) min_s=([\d.e+-]+) max_s=([\d.e+-]+)", out, re.M)
    pk = re.search(r"^peak_mb ([\d.]+)", out, re.M)
    if not m or not pk:
        sys.exit(f"compare_pytorch: cannot parse gradattr bench output:\n{out}")
    return {"median_s": float(m.group(3)), "min_s": float(m.group(4)), "max_s": float(m.group(5)),
            "peak_mb": float(pk.group(1))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gradattr", default="build/examples/cli/gradattr")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--repeat", type=int, default=5, help="timed runs per process (after one warm-up)")
    ap.add_argument("--rounds", type=int, default=3, help="alternating gradattr/PyTorch rounds")
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--workload", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        return torch_worker(args)

    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    import torch  # noqa: F401  (fail early with a clear message if missing)
    results = {}
    for w in args.workloads.split(","):
        runs = {"gradattr": [], "pytorch": []}
        for r in range(args.rounds):
            order = ["gradattr", "pytorch"] if r % 2 == 0 else ["pytorch", "gradattr"]
            for fw in order:
                runs[fw].append(run_gradattr(args, w, env) if fw == "gradattr" else run_torch(args, w, env))
        res = {}
        for fw, rs in runs.items():
            res[fw] = {"median_s": statistics.median(x["median_s"] for x in rs),
                       "min_s": min(x["min_s"] for x in rs),
                       "peak_mb": max(x["peak_mb"] for x in rs)}
        res["ratio"] = res["gradattr"]["median_s"] / res["pytorch"]["median_s"]
        res["memory_ratio"] = res["gradattr"]["peak_mb"] / res["pytorch"]["peak_mb"]
        results[w] = res
        print(f"{w:<11} batch={args.batch} gradattr={res['gradattr']['median_s']:.4f}s "
              f"pytorch={res['pytorch']['median_s']:.4f}s ratio={res['ratio']:.3f} "
              f"peak_mb gradattr={res['gradattr']['peak_mb']:.0f} pytorch={res['pytorch']['peak_mb']:.0f}",
              flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "batch": args.batch, "size": args.size, "repeat": args.repeat,
                       "rounds": args.rounds, "torch": __import__("torch").__version__, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
