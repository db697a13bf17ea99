#!/usr/bin/env python3
"""Path and perturbation methods end to end, gradattr against the Python tool a user would
otherwise run, alternating in one session (issue 16's method table; docs/benchmarks.md,
"Methods against their Python tools").

Usage:
    OMP_NUM_THREADS=2 OMP_WAIT_POLICY=passive /usr/bin/python3 benchmarks/compare_methods.py \\
        --gradattr build/examples/cli/gradattr --threads 2 --rounds 3 \\
        [--captum /path/to/captum-source] [--pytorch-grad-cam /path/to/pytorch-grad-cam-source]

Model: VGG19 at 224x224, batch 1, seeded random weights on both sides (torchvision's vgg19 after
torch.manual_seed(0); gradattr's built-in seeded VGG19): speed does not depend on the weights.
Every method explains the top class under the post-softmax score (the authors' default), from a
preprocessed input to the raw map.

Rows (method, tool):
  rsi-gradcam  authors-loop       RSI Grad-CAM, M = 50 (51 path points x_m = (m/M) x), one point
                                   per model call as the authors' code: the trunk to features.35
                                   unrecorded, the head recorded, dS/dA by autograd, the
                                   trapezoid sum G and the map (docs/methods.md)
  ig           captum             captum.attr.IntegratedGradients, n_steps 50, riemann_trapezoid,
                                   internal_batch_size 16 (needs --captum)
  ig           pytorch-batched    the same algorithm in plain PyTorch: 50 path points in batches
                                   of 16, one backward per batch
  smoothgrad   captum             captum.attr.NoiseTunnel(Saliency), smoothgrad, 50 samples,
                                   nt_samples_batch_size 16, stdev 0.15 (max - min) (needs --captum)
  smoothgrad   pytorch-batched    the same in plain PyTorch
  scorecam     pytorch-grad-cam   pytorch_grad_cam.ScoreCAM on features.35 (512 masks), batch_size
                                   32 (needs --pytorch-grad-cam)
  scorecam     pytorch-batched    pytorch-grad-cam's algorithm in plain PyTorch: bilinear masks,
                                   min-max normalised, 512 masked inputs in batches of 32 under
                                   no_grad, softmax over the masks' target logits
gradattr runs `gradattr bench --workload <method> --steps 50` (RunOptions: 16 model evaluations
per call, Score-CAM 32). Captum and pytorch-grad-cam are pure Python and not Debian packages:
give their source directories (the directory holding the `captum` / `pytorch_grad_cam` package);
without one, its rows are printed as skipped with the reason.

Each (tool, method) runs in its own subprocess (warm-up, then --repeat timed calls; Score-CAM:
--scorecam-repeat calls and no warm-up, a call is 512 forwards), rounds alternate gradattr and
the tools; the table gives the median over rounds of each process's median and the ratio
gradattr / tool (target of issue 16: <= 0.4).
"""
import argparse
import json
import os
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import compare_pytorch as cp  # noqa: E402  (run_child, run_gradattr: one subprocess harness)

METHODS = ["rsi-gradcam", "ig", "smoothgrad", "scorecam"]
TOOLS = {"rsi-gradcam": ["authors-loop"], "ig": ["captum", "pytorch-batched"],
         "smoothgrad": ["captum", "pytorch-batched"], "scorecam": ["pytorch-grad-cam", "pytorch-batched"]}
NEEDS = {"captum": "captum", "pytorch-grad-cam": "pytorch_grad_cam"}
CUT = 36  # torchvision vgg19: features[:36] ends with features.35, the last ReLU before the last pool
BATCH = 16
SCORECAM_BATCH = 32


def build(args):
    import torch
    import torchvision
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = torchvision.models.vgg19().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    x = torch.randn(1, 3, args.size, args.size)
    return model, x


def method_fn(args, model, x):
    """The timed call of one (method, tool): a function of no arguments returning the raw map."""
    import torch
    import torch.nn.functional as F

    def trunk(v):
        return model.features[:CUT](v)

    def head(a):
        return model.classifier(torch.flatten(model.avgpool(model.features[CUT:](a)), 1))

    def post(v):
        return F.softmax(model(v), dim=1)

    steps, method, tool = args.steps, args.method, args.tool

    def target():
        with torch.no_grad():
            return int(model(x).argmax(1))

    if method == "rsi-gradcam":
        def rsi():
            c = target()
            G, a_prev, g_prev, a_last = None, None, None, None
            for m in range(steps + 1):
                with torch.no_grad():
                    a = trunk(x * (m / steps))
                a.requires_grad_(True)
                s = F.softmax(head(a), dim=1)[0, c]
                (g,) = torch.autograd.grad(s, a)
                a = a.detach()
                if m > 0:
                    step = 0.5 * (g_prev + g) * (a - a_prev)
                    G = step if G is None else G + step
                a_prev, g_prev, a_last = a, g, a
            w = G.mean(dim=(2, 3), keepdim=True)
            return (w * a_last).sum(1)
        return rsi

    if method in ("ig", "smoothgrad") and tool == "pytorch-batched":
        def batched_grads(points, c):
            grads = []
            for i in range(0, len(points), BATCH):
                b = torch.cat(points[i:i + BATCH]).requires_grad_(True)
                s = post(b)[:, c].sum()
                (g,) = torch.autograd.grad(s, b)
                grads.append(g)
            return torch.cat(grads)

        if method == "ig":
            def ig():
                c = target()
                g = batched_grads([x * (m / steps) for m in range(steps + 1)], c)
                trap = (0.5 * (g[:-1] + g[1:])).mean(0, keepdim=True)
                return x * trap
            return ig

        def smoothgrad():
            c = target()
            sigma = 0.15 * float(x.max() - x.min())
            noisy = [x + sigma * torch.randn_like(x) for _ in range(steps)]
            return batched_grads(noisy, c).abs().mean(0, keepdim=True)
        return smoothgrad

    if method in ("ig", "smoothgrad"):  # captum
        from captum.attr import IntegratedGradients, NoiseTunnel, Saliency
        if method == "ig":
            ig = IntegratedGradients(post)
            return lambda: ig.attribute(x, baselines=torch.zeros_like(x), target=target(), n_steps=steps,
                                        method="riemann_trapezoid", internal_batch_size=BATCH)
        nt = NoiseTunnel(Saliency(post))
        sigma = 0.15 * float(x.max() - x.min())
        return lambda: nt.attribute(x, nt_type="smoothgrad", nt_samples=steps, nt_samples_batch_size=BATCH,
                                    stdevs=sigma, target=target())

    if method == "scorecam" and tool == "pytorch-batched":
        def scorecam():
            with torch.no_grad():
                c = int(model(x).argmax(1))
                a = trunk(x)
                up = F.interpolate(a, size=x.shape[-2:], mode="bilinear", align_corners=True)
                flat = up.flatten(2)
                mn, mx = flat.min(-1)[0][..., None, None], flat.max(-1)[0][..., None, None]
                masks = ((up - mn) / (mx - mn + 1e-8))[0]  # [K, H, W]
                scores = []
                for i in range(0, masks.shape[0], SCORECAM_BATCH):
                    scores.append(model(x * masks[i:i + SCORECAM_BATCH, None])[:, c])
                w = F.softmax(torch.cat(scores), dim=0)
                return (w[:, None, None] * a[0]).sum(0)
        return scorecam

    # pytorch-grad-cam
    from pytorch_grad_cam import ScoreCAM
    from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
    cam = ScoreCAM(model=model, target_layers=[model.features[CUT - 1]])
    cam.batch_size = SCORECAM_BATCH
    return lambda: cam(input_tensor=x, targets=[ClassifierOutputTarget(target())])


def tool_worker(args):
    for tool, module in NEEDS.items():
        if args.tool == tool:
            sys.path.insert(0, getattr(args, tool.replace("-", "_")))
            __import__(module)
    model, x = build(args)
    cp.time_calls(method_fn(args, model, x), args.repeat, warmup=bool(args.warmup))


def run_tool(args, method, tool, repeat, warmup, env):
    cmd = [sys.executable, __file__, "--tool-worker", "--method", method, "--tool", tool, "--threads", str(args.threads),
           "--size", str(args.size), "--repeat", str(repeat), "--warmup", str(warmup), "--steps", str(args.steps)]
    for t in NEEDS:
        d = getattr(args, t.replace("-", "_"))
        if d:
            cmd += ["--" + t, d]
    out, _ = cp.run_child(cmd, env)
    return json.loads(out.strip().splitlines()[-1])


def missing_tool(args, tool):
    """Why a tool's rows cannot run here, or None."""
    if tool not in NEEDS:
        return None
    d = getattr(args, tool.replace("-", "_"))
    if not d:
        return f"no --{tool} source directory given ({NEEDS[tool]} is not a Debian package)"
    if not os.path.isdir(os.path.join(d, NEEDS[tool])):
        return f"--{tool} {d}: no {NEEDS[tool]}/ package directory there"
    return None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gradattr", default="build/examples/cli/gradattr")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--steps", type=int, default=50, help="M path steps (RSI Grad-CAM, IG), N samples (SmoothGrad)")
    ap.add_argument("--repeat", type=int, default=3, help="timed calls per process after one warm-up")
    ap.add_argument("--scorecam-repeat", type=int, default=1, help="Score-CAM: timed calls per process, no warm-up")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--captum", help="directory holding Captum's `captum` package (its source checkout)")
    ap.add_argument("--pytorch-grad-cam", help="directory holding the `pytorch_grad_cam` package (its source checkout)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--tool-worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--method", help=argparse.SUPPRESS)
    ap.add_argument("--tool", help=argparse.SUPPRESS)
    ap.add_argument("--warmup", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.tool_worker:
        return tool_worker(args)
    methods = args.methods.split(",")
    for m in methods:
        if m not in METHODS:
            ap.error(f"--methods: unknown method '{m}' (valid: {', '.join(METHODS)})")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    import torch  # noqa: F401  (fail early with a clear message if missing)
    args.batch = 1
    results = []
    for method in methods:
        scorecam = method == "scorecam"
        repeat, warmup = (args.scorecam_repeat, 0) if scorecam else (args.repeat, 1)
        tools = []
        for tool in TOOLS[method]:
            why = missing_tool(args, tool)
            if why:
                print(f"{method:<11} {tool:<16} skipped: {why}", flush=True)
                results.append({"method": method, "tool": tool, "skipped": why})
            else:
                tools.append(tool)
        if not tools:
            continue
        runs = {name: [] for name in ["gradattr", *tools]}
        for r in range(args.rounds):
            order = ["gradattr", *tools] if r % 2 == 0 else [*tools, "gradattr"]
            for name in order:
                if name == "gradattr":
                    bench_args = argparse.Namespace(**vars(args))
                    bench_args.repeat = repeat
                    runs[name].append(cp.run_gradattr(bench_args, method, env, ["--steps", str(args.steps)]))
                else:
                    runs[name].append(run_tool(args, method, name, repeat, warmup, env))
        med = {name: statistics.median(x["median_s"] for x in rs) for name, rs in runs.items()}
        peak = {name: max(x["peak_mb"] for x in rs) for name, rs in runs.items()}
        for tool in tools:
            ratio = med["gradattr"] / med[tool]
            results.append({"method": method, "tool": tool, "gradattr_s": med["gradattr"], "tool_s": med[tool],
                            "ratio": ratio, "peak_mb_gradattr": peak["gradattr"], "peak_mb_tool": peak[tool]})
            print(f"{method:<11} {tool:<16} gradattr={med['gradattr']:.3f}s {tool}={med[tool]:.3f}s "
                  f"ratio={ratio:.3f} peak_mb gradattr={peak['gradattr']:.0f} {tool}={peak[tool]:.0f}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""), "threads": args.threads,
                       "size": args.size, "steps": args.steps, "rounds": args.rounds,
                       "torch": __import__("torch").__version__, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()
