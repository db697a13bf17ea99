#!/usr/bin/env python3
"""Run the same end-to-end workloads in PyTorch and in gradattr, alternating, in one session.

Usage (as in docs/benchmarks.md):
    OMP_NUM_THREADS=2 /usr/bin/python3 benchmarks/compare_pytorch.py --gradattr build/examples/cli/gradattr \
        --threads 2 --batch 1 --size 224 --repeat 5 --rounds 3
    OMP_NUM_THREADS=2 /usr/bin/python3 benchmarks/compare_pytorch.py --model resnet50 \
        --workloads forward,input-grad,gradcam --repeat 5 --rounds 5

Without --model: VGG19 (gradattr's built-in, seeded; torchvision's vgg19, seeded). With --model
resnet50|densenet121|mobilenet_v2|efficientnet_b0|vit_b_16: the seeded torchvision model of
tools/export_torchvision.py (build_model: seed --seed, BatchNorm calibrated, head scaled), timed
by PyTorch as it is, and its ONNX export (written to --onnx, default
/tmp/gradattr_bench_<model>_s<seed>.onnx, when missing) loaded by gradattr: both run the same
weights. The Grad-CAM path cuts at the layer gradattr's default CAM layer picks
(`gradattr layers --weights f.onnx`): the output of resnet50's layer4, densenet121's features
followed by its ReLU, mobilenet_v2's features (features.18), efficientnet_b0's features
(features.8), vit_b_16's last block's ln_1 (tokens [N, 197, 768]; the block's input crosses the
cut through the residual add and is held fixed, as in gradattr); PyTorch runs the trunk up to it
under no_grad and records only the head. For the ViT the Grad-CAM maths is pytorch-grad-cam's
with its reshape_transform: the class token dropped, channel weights the mean gradient over the
196 patch tokens.

Each (framework, workload) runs in its own subprocess, so peak memory (max RSS) is measured per
workload. Rounds alternate gradattr and PyTorch to spread the machine's noise over both. Reported:
median over rounds of each run's median time, and the ratio gradattr / PyTorch (< 1: gradattr faster).

On a shared machine run it with OMP_WAIT_POLICY=PASSIVE (passed to both frameworks, which both
use libgomp): with the default spin-waiting, a core taken by another process stalls every
OpenMP barrier, and both sides' times become 3-10x longer and erratic.

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


MODELS = ["resnet50", "densenet121", "mobilenet_v2", "efficientnet_b0", "vit_b_16"]
HERE = os.path.dirname(os.path.abspath(__file__))
TOOLS = os.path.join(os.path.dirname(HERE), "tools")


def split_model(name, model):
    """(trunk, head): trunk(x) is the activation at gradattr's default CAM layer of the ONNX
    export, head(a) the logits from it (what the rest of model.forward does)."""
    import torch
    import torch.nn.functional as F
    if name == "resnet50":
        m = model

        def trunk(x):
            x = m.maxpool(m.relu(m.bn1(m.conv1(x))))
            return m.layer4(m.layer3(m.layer2(m.layer1(x))))
        return trunk, lambda a: m.fc(torch.flatten(m.avgpool(a), 1))
    if name == "densenet121":
        return (lambda x: F.relu(model.features(x)),
                lambda a: model.classifier(torch.flatten(F.adaptive_avg_pool2d(a, (1, 1)), 1)))
    if name == "mobilenet_v2":
        return model.features, lambda a: model.classifier(torch.flatten(F.adaptive_avg_pool2d(a, (1, 1)), 1))
    if name == "efficientnet_b0":
        return model.features, lambda a: model.classifier(torch.flatten(model.avgpool(a), 1))
    if name == "vit_b_16":
        m, last, saved = model, model.encoder.layers[-1], {}

        def trunk(x):
            h = m._process_input(x)
            h = torch.cat([m.class_token.expand(x.shape[0], -1, -1), h], dim=1) + m.encoder.pos_embedding
            for blk in m.encoder.layers[:-1]:
                h = blk(h)
            saved["h"] = h  # the block input: crosses the cut through the residual add
            return last.ln_1(h)

        def head(a):
            y = saved["h"] + last.self_attention(a, a, a, need_weights=False)[0]
            y = y + last.mlp(last.ln_2(y))
            return m.heads(m.encoder.ln(y)[:, 0])
        return trunk, head
    raise ValueError(name)


def torch_worker(args):
    import torch
    import torchvision

    torch.set_num_threads(args.threads)
    if args.model:
        sys.path.insert(0, TOOLS)
        import export_torchvision
        model = export_torchvision.build_model(args.model, args.seed, args.size)
        # build_model turns in-place activations off (for hooks); torchvision's default is in
        # place, PyTorch's fastest: put it back (the function is the same).
        for mod in model.modules():
            if hasattr(mod, "inplace") and isinstance(mod.inplace, bool) and not isinstance(mod, torch.nn.Dropout):
                mod.inplace = True
        model.eval()
        trunk, head = split_model(args.model, model)
    else:
        torch.manual_seed(0)
        model = torchvision.models.vgg19().eval()
        cut = 36  # features[:36] ends with features.35, the last ReLU before the last pool

        def trunk(x):
            return model.features[:cut](x)

        def head(a):
            h = model.features[cut:](a)
            return model.classifier(torch.flatten(model.avgpool(h), 1))
    x = torch.randn(args.batch, 3, args.size, args.size)

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
            a = trunk(x)
        a.requires_grad_(True)
        z = head(a)
        c = z.argmax(1)
        (g,) = torch.autograd.grad(z.gather(1, c[:, None]).sum(), a)
        if a.dim() == 3:  # ViT tokens [N, 1 + P, D]: drop the class token, weights over the patches
            (g[:, 1:].mean(1, keepdim=True) * a[:, 1:]).sum(2)
        else:
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
    time_calls(fn, args.repeat)


def time_calls(fn, repeat, warmup=True):
    """A worker's measurement: one warm-up call (unless warmup is false), `repeat` timed calls,
    printed as one JSON line (median/min/max seconds and this process's peak MB)."""
    if warmup:
        fn()
    times = []
    for _ in range(repeat):
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
           "--batch", str(args.batch), "--size", str(args.size), "--repeat", str(args.repeat), "--seed", str(args.seed)]
    if args.model:
        cmd += ["--model", args.model]
    out, _ = run_child(cmd, env)
    return json.loads(out.strip().splitlines()[-1])


def run_gradattr(args, workload, env, extra=()):
    """`gradattr bench` of one workload in its own process: median/min/max seconds and peak MB.
    extra: more bench options (benchmarks/compare_methods.py passes --steps and --repeat)."""
    # /usr/bin/time is not always installed: measure max RSS of the child with a tiny wrapper.
    cmd = [sys.executable, "-c",
           "import resource,subprocess,sys;"
           "r=subprocess.run(sys.argv[1:]);"
           "print('peak_mb', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss/1024.0);"
           "sys.exit(r.returncode)",
           args.gradattr, "bench", "--size", str(args.size), "--batch", str(args.batch),
           "--repeat", str(args.repeat), "--threads", str(args.threads), "--workload", workload, *extra]
    cmd += ["--weights", args.onnx] if getattr(args, "model", None) else ["--arch", "vgg19"]
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
    ap.add_argument("--workloads", default=None,
                    help="comma-separated (default: " + ",".join(WORKLOADS) + "; with --model forward,input-grad,gradcam)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--model", choices=MODELS, help="a torchvision CNN (ONNX for gradattr) instead of VGG19")
    ap.add_argument("--seed", type=int, default=0, help="--model: the weights' seed (tools/export_torchvision.py)")
    ap.add_argument("--onnx", help="--model: the ONNX export (written when missing)")
    ap.add_argument("--torch-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--workload", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.torch_worker:
        return torch_worker(args)

    if args.workloads is None:
        args.workloads = "forward,input-grad,gradcam" if args.model else ",".join(WORKLOADS)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    import torch  # noqa: F401  (fail early with a clear message if missing)
    if args.model:
        args.onnx = args.onnx or f"/tmp/gradattr_bench_{args.model}_s{args.seed}.onnx"
        if not os.path.exists(args.onnx):
            subprocess.run([sys.executable, os.path.join(TOOLS, "export_torchvision.py"), "--model", args.model,
                            "--seed", str(args.seed), "--size", str(args.size), "--out", args.onnx], check=True)
        print(f"model {args.model} seed {args.seed}: {args.onnx}", flush=True)
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
            json.dump({"model": args.model or "vgg19", "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
                       "threads": args.threads, "batch": args.batch, "size": args.size, "repeat": args.repeat,
                       "rounds": args.rounds, "torch": __import__("torch").__version__, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
