#!/usr/bin/python3
"""Accuracy budget (gradattr issue 16): how far gradattr's float32 results are from a float64
PyTorch reference, side by side with PyTorch float32's own distance from the same reference.

Usage (docs/benchmarks.md, "Accuracy budget"):
    OMP_NUM_THREADS=1 /usr/bin/python3 benchmarks/accuracy_budget.py \
        --gradattr build/examples/cli/gradattr [--out budget.md] [--full]

For every model, input, method and score space: the raw map of `gradattr explain --save-raw`
(float32, default and `--precise`), the same map from PyTorch in float32, and the float64 PyTorch
reference. Deviation = max |map - ref| / max |ref| over the image's map; ratio = gradattr's
deviation / PyTorch float32's. Issue 16's targets: ratio <= 2 by default, <= 1.2 with --precise.
Also the workloads themselves: the logits (`gradattr classify --save-logits`) and the input
gradient dS/dx (Saliency's raw map, `--variant signed`).

Models (default run):
  vgg19/4    a random-weight VGG19 layout with every width / 4 (16 ... 128 channels), classifier
             6272-512-512-1000, 64x64 input; torchvision's init scheme with N(0, 0.05) biases and
             tools/check_vgg19_full.py's data-dependent rescale (seeded), float32 weights written
             as torchvision-named safetensors into a temporary directory. CAM layer features.35.
  fashion    the trained Fashion-MNIST model shipped as the CLI's default
             (examples/data/fashion_vgg.safetensors), CAM layer features.7.
  vgg19      (--full only) full-size VGG19 at 224x224 with tools/check_vgg19_full.py's seeded
             weights; a subset of methods (--full-methods), the path methods at --full-steps.
Inputs: "ordinary" (N(0,1) images for the random VGGs, t10k test images for Fashion) and
"tie-prone" (1e-3 N(0,1): every activation is then its bias plus a tiny input-dependent part,
so each channel is nearly constant over space and max-pool and ReLU decisions are close; the
path methods' points near the zero baseline are of this kind on every input).

Reference implementations (float64 and float32 alike): tools/make_attribution_fixtures.py and
tools/make_variant_fixtures.py, whose functions are imported; their layer split
(gradattr_fixtures.tinyvgg: features.35) is pointed at each model's CAM layer. Each method runs
with the CLI's default variant (Grad-CAM++ exact, Score-CAM increase, RSI Grad-CAM paper,
Integrated Grad-CAM clamped, IG Riemann), zero baseline, class = the float64 reference's top
class (passed to gradattr with --class). SmoothGrad: gradattr's own seeded noise reproduced bit
for bit (gradattr_fixtures.cxx_random: std::seed_seq, std::mt19937_64, libstdc++'s
normal_distribution), --samples N --seed 0.

Also printed, to show what bounds a miss: per model and method the worst ratios; the worst rows;
a census of exact and near ties (max-pool windows, ReLU inputs) in the float64 forward at x, at
the zero baseline and along the path; the input gradient at the baseline and at every path point
one by one, and on --fresh further ordinary inputs (how many have a flipped decision in PyTorch
float32, gradattr and gradattr --precise; --no-path-census, --fresh 0 skip them); gradattr's
Centered seed in float; the time of each part (gradattr default vs --precise: the speed cost of
--precise, process start and model loading included).

Run single-threaded: OMP_NUM_THREADS=1 (also passed to gradattr), torch.set_num_threads(1).
Progress goes to stderr; the Markdown report to stdout (and --out). The gradattr binary is copied
to the temporary directory first, so a rebuild during the run does not mix two binaries.
Default run: ~5 minutes on one core of a 2-core Xeon; --full (with --models none) ~11 minutes.
"""
import argparse
import copy
import gzip
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
from torchvision.models.vgg import VGG, make_layers  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TOOLS = os.path.join(REPO, "tools")
sys.path.insert(0, TOOLS)
from gradattr_fixtures import cxx_random, io, tinyvgg as tv  # noqa: E402
import make_attribution_fixtures as base  # noqa: E402
import make_variant_fixtures as var  # noqa: E402
import check_vgg19_full  # noqa: E402

SCORES = ("pre", "post", "log", "centered")
METHODS = ("gradcam", "gradcam+", "gradcam++", "hirescam", "xgradcam", "layercam", "scorecam",
           "rsi-gradcam", "integrated-gradcam", "saliency", "inputxgrad", "ig", "smoothgrad")
CAM_METHODS = {"gradcam", "gradcam+", "gradcam++", "hirescam", "xgradcam", "layercam"}
PATH_METHODS = {"rsi-gradcam", "integrated-gradcam", "ig"}
VARIANT = {"saliency": "signed"}        # the raw map is dS/dx with either variant
VGG19_CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
             512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
FASHION_IDX = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"
FASHION_LABELS = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz"
FASHION_WEIGHTS = os.path.join(REPO, "examples", "data", "fashion_vgg.safetensors")
TIE_SCALE = 1e-3
RATIO_DEFAULT = 2.0
RATIO_PRECISE = 1.2
CHECK_TOL = 1e-2        # convention check: --precise vs float64 on the first ordinary input
                        # (a different convention gives deviations of order 1)


def log(msg):
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --- the CAM layer: make_attribution_fixtures' functions cut at tinyvgg's features.35 ----------

_fu, _ff, _lag = tv.forward_until, tv.forward_from, tv.layer_act_and_grad


def _cut(model, idx):
    return getattr(model, "cut_index", tv.LAYER_INDEX) if idx is None else idx


tv.forward_until = lambda model, x, idx=None: _fu(model, x, _cut(model, idx))
tv.forward_from = lambda model, a, idx=None: _ff(model, a, _cut(model, idx))
tv.layer_act_and_grad = (lambda model, x, classes, space, idx=None, head=None:
                         _lag(model, x, classes, space, _cut(model, idx), head))


# --- models ------------------------------------------------------------------------------------

def no_inplace(m):
    for mod in m.modules():
        if isinstance(mod, nn.ReLU):
            mod.inplace = False
    return m


def random_vgg(div, hidden, classes, hw, seed=0, calib_n=8):
    """VGG19 layout, widths / div, classifier (w*49)-hidden-hidden-classes: torchvision's init
    (kaiming fan_out convs, N(0, 0.01) linears), N(0, 0.05) biases, then
    tools/check_vgg19_full.py's data-dependent rescale on calib_n seeded N(0,1) images (convs
    standardised per channel, linears per layer, the last to a logit spread of ~2). float32."""
    cfg = [c if c == "M" else c // div for c in VGG19_CFG]
    torch.manual_seed(seed)
    m = VGG(make_layers(cfg), num_classes=classes, init_weights=False)
    w = cfg[-2]
    m.classifier = nn.Sequential(nn.Linear(w * 49, hidden), nn.ReLU(), nn.Dropout(),
                                 nn.Linear(hidden, hidden), nn.ReLU(), nn.Dropout(),
                                 nn.Linear(hidden, classes))
    no_inplace(m).eval()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(mod, nn.Linear):
                nn.init.normal_(mod.weight, 0, 0.01)
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                mod.bias.normal_(0.0, 0.05)
    check_vgg19_full.rescale(m, calib_n, hw)
    return m


def fashion_vgg(path):
    """The shipped model in torch (examples/data/README.md: 1 channel, 28x28, [0, 1])."""
    features = nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2))
    m = VGG(features, num_classes=10, init_weights=False)
    m.avgpool = nn.AdaptiveAvgPool2d((3, 3))
    m.classifier = nn.Sequential(nn.Linear(576, 256), nn.ReLU(), nn.Dropout(), nn.Linear(256, 10))
    tensors, _ = io.load_safetensors(path)
    m.load_state_dict({k: torch.from_numpy(np.array(v, dtype=np.float32)) for k, v in tensors.items()})
    return no_inplace(m).eval()


def read_idx(path):
    with gzip.open(path, "rb") as f:
        raw = f.read()
    magic = int.from_bytes(raw[0:4], "big")
    n = int.from_bytes(raw[4:8], "big")
    if magic == 2051:
        r, c = int.from_bytes(raw[8:12], "big"), int.from_bytes(raw[12:16], "big")
        return np.frombuffer(raw[16:], np.uint8).reshape(n, r, c)
    return np.frombuffer(raw[8:], np.uint8)


def seeded(shape, seed, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(*shape, generator=g, dtype=torch.float32) * scale).double()   # float32 values


class Spec:
    def __init__(self, name, model32, cut_index, inputs, weights, methods, steps, note, spaces=None):
        self.name, self.cut_index, self.inputs, self.weights = name, cut_index, inputs, weights
        self.spaces = spaces
        self.fresh = None      # (description, callable k -> list of k images [1,C,H,W]) for the flip census
        self.methods, self.steps, self.note = methods, steps, note
        self.model32 = model32
        self.model32.cut_index = cut_index
        self.model64 = copy.deepcopy(model32).double()     # the same float32 values, exactly
        self.model64.cut_index = cut_index


def build_specs(args, tmp):
    specs = []
    for name in [n for n in args.models.split(",") if n and n != "none"]:
        if name == "vgg19/4":
            t = time.time()
            m = random_vgg(4, 512, 1000, 64)
            w = os.path.join(tmp, "vgg19_div4.safetensors")
            io.save_safetensors(w, [(k, v.numpy()) for k, v in m.state_dict().items()],
                                {"format": "pt", "note": "accuracy_budget.py random_vgg(4, 512, 1000, 64)"})
            inputs = [("ordinary #0", seeded((1, 3, 64, 64), 1)), ("ordinary #1", seeded((1, 3, 64, 64), 2)),
                      ("tie-prone #0", seeded((1, 3, 64, 64), 3, TIE_SCALE)),
                      ("tie-prone #1", seeded((1, 3, 64, 64), 4, TIE_SCALE))]
            specs.append(Spec(name, m, 35, inputs, w, list(METHODS), args.steps,
                              "random weights, VGG19 layout widths/4, 64x64, 1000 classes"))
            specs[-1].fresh = ("N(0,1) images, seeds 1000..", lambda k: [seeded((1, 3, 64, 64), 1000 + i)
                                                                       for i in range(k)])
            log(f"{name}: built in {time.time() - t:.1f} s")
        elif name == "fashion":
            m = fashion_vgg(FASHION_WEIGHTS)
            imgs = read_idx(FASHION_IDX)
            labels = read_idx(FASHION_LABELS)
            inputs = []
            for i in (0, 1, 2):
                x = torch.from_numpy((imgs[i].astype(np.float32) / np.float32(255.0))[None, None]).double()
                inputs.append((f"t10k #{i} (label {int(labels[i])})", x))
            # the same image without exact ties: its zero background replaced by 1e-3 N(0,1) noise
            noisy = inputs[0][1] + seeded((1, 1, 28, 28), 6, TIE_SCALE)
            inputs.append(("t10k #0 + 1e-3 N(0,1)", noisy.float().double()))
            inputs.append(("tie-prone #0", seeded((1, 1, 28, 28), 5, TIE_SCALE)))
            specs.append(Spec(name, m, 7, inputs, FASHION_WEIGHTS, list(METHODS), args.steps,
                              "trained (examples/data/fashion_vgg.safetensors), 28x28 grey"))
            specs[-1].fresh = ("t10k images #3..", lambda k: [torch.from_numpy(
                (imgs[i].astype(np.float32) / np.float32(255.0))[None, None]).double() for i in range(3, 3 + k)])
        else:
            raise SystemExit(f"unknown model {name}")
    if args.full:
        t = time.time()
        m = no_inplace(check_vgg19_full.build()).eval()
        w = os.path.join(tmp, "vgg19_full.safetensors")
        io.save_safetensors(w, [(k, v.numpy()) for k, v in m.state_dict().items()],
                            {"format": "pt", "note": "tools/check_vgg19_full.py build()"})
        inputs = [("ordinary #0", seeded((1, 3, 224, 224), 1)),
                  ("tie-prone #0", seeded((1, 3, 224, 224), 3, TIE_SCALE))]
        specs.append(Spec("vgg19", m, 35, inputs, w, args.full_methods.split(","), args.full_steps,
                          "random weights (tools/check_vgg19_full.py), full size, 224x224",
                          tuple(args.full_scores.split(","))))
        log(f"vgg19: built in {time.time() - t:.1f} s")
    return specs


# --- PyTorch maps (float64 reference and float32), from the fixture scripts' functions ---------

def relu(t):
    return t.clamp_min(0)


def smoothgrad_inputs(x, samples, seed, dtype):
    """gradattr's noisy copies: x + T(sigma_n e_s), e_s from cxx_random (one draw per sample
    shared by the batch), sigma_n = 0.15 (max - min) of image n in double; in float32 the
    product is rounded to float and added in float, in float64 nothing is rounded."""
    P = x[0].numel()
    sig = [0.15 * (float(x[n].max()) - float(x[n].min())) for n in range(x.shape[0])]
    out = []
    for s in range(samples):
        e = cxx_random.smoothgrad_unit_noise(seed, s, P)
        noise = np.stack([sg * e for sg in sig]).reshape(x.shape)
        if dtype == torch.float32:
            out.append(x.float() + torch.from_numpy(noise.astype(np.float32)))
        else:
            out.append(x.double() + torch.from_numpy(noise))
    return out


def torch_maps(model, x, classes, spaces, methods, steps, sg_inputs):
    """{(method, space): map [N, ...]} and the logits, in the model's dtype."""
    out = {}
    x0 = torch.zeros_like(x)
    with torch.no_grad():
        out[("logits", "-")] = model(x)
    need_A = any(m in CAM_METHODS or m == "scorecam" for m in methods)
    if "scorecam" in methods:
        A, _, _, _ = tv.layer_act_and_grad(model, x, classes, "pre")
        _, sc = base.scorecam(model, x, A, classes, spaces, False, base.EPS_SCORECAM)
        with torch.no_grad():
            z0 = model(x0)
        for s in spaces:   # default variant `increase`: w_k = S(x M_k) - S(0)
            out[("scorecam", s)] = base.cam_from_weights(sc[s] - tv.score_per_image(z0, classes, s)[:, None], A)
    for s in spaces:
        if need_A:
            A, g, _, _ = tv.layer_act_and_grad(model, x, classes, s)
            cams = {
                "gradcam": lambda: base.cam_from_weights(base.w_gradcam(A, g), A),
                "gradcam+": lambda: base.cam_from_weights(base.w_gradcamplus(A, g), A),
                "gradcam++": lambda: base.cam_from_weights(
                    var.w_gradcampp_exact(A, *var.exact_derivatives(model, A, classes, s)), A),
                "hirescam": lambda: (g * A).sum(dim=1),
                "xgradcam": lambda: base.cam_from_weights(base.w_xgradcam(A, g), A),
                "layercam": lambda: (relu(g) * A).sum(dim=1),
            }
            for m in methods:
                if m in cams:
                    out[(m, s)] = cams[m]()
        if "saliency" in methods or "inputxgrad" in methods:
            gx, _, _ = tv.input_grad(model, x, classes, s)
            out[("saliency", s)] = gx
            out[("inputxgrad", s)] = x * gx
        if "rsi-gradcam" in methods:
            out[("rsi-gradcam", s)] = base.rsi_gradcam(model, x, x0, classes, s, steps)[0]
        if "integrated-gradcam" in methods:
            out[("integrated-gradcam", s)] = var.integrated_gradcam_clamped(model, x, x0, classes, s, steps)
        if "ig" in methods:
            out[("ig", s)] = base.integrated_gradients(model, x, x0, classes, s, steps)[0]
        if "smoothgrad" in methods:
            acc = None
            for xn in sg_inputs:
                gi, _, _ = tv.input_grad(model, xn, classes, s)
                acc = gi if acc is None else acc + gi
            out[("smoothgrad", s)] = acc / len(sg_inputs)
    return {k: v.detach().double().numpy() for k, v in out.items()}


# --- diagnostics ---------------------------------------------------------------------------------

NEAR = 1e-5   # a "near tie": a gap below this fraction of the layer's largest |value| (per image)


def tie_counts(model, h):
    """[pool exact, pool near, ReLU exact, ReLU near] of the float64 forward of one image (below)."""
    import torch.nn.functional as F
    r = [0, 0, 0, 0]
    with torch.no_grad():
        for mod in model.features:
            tol = NEAR * float(h.abs().max())
            if isinstance(mod, nn.ReLU):
                r[2] += int((h == 0).sum())
                r[3] += int(((h != 0) & (h.abs() < tol)).sum())
            elif isinstance(mod, nn.MaxPool2d):
                n, c = h.shape[:2]
                srt = F.unfold(h, 2, stride=2).view(n, c, 4, -1).sort(dim=2, descending=True).values
                top, gap = srt[:, :, 0], srt[:, :, 0] - srt[:, :, 1]
                r[0] += int(((top > 0) & (gap == 0)).sum())
                r[1] += int(((top > 0) & (gap > 0) & (gap < tol)).sum())
            h = mod(h)
        h = torch.flatten(model.avgpool(h), 1)
        for mod in model.classifier:
            if isinstance(mod, nn.ReLU):
                tol = NEAR * float(h.abs().max())
                r[2] += int((h == 0).sum())
                r[3] += int(((h != 0) & (h.abs() < tol)).sum())
            h = mod(h)
    return r


def tie_census(model, x, steps):
    """Where the float64 forward of one image [1,C,H,W] is at or near a tie, at x itself and summed
    over the path points x_m = (m/M) x, m = 1..M (zero baseline): max-pool windows whose largest
    value is positive and attained twice (exact) or ahead of the second by less than NEAR x the
    layer's max (near); ReLU inputs (features and classifier) exactly 0 (exact) or of size below
    NEAR x the layer's max (near)."""
    at_x = tie_counts(model, x)
    path = [0, 0, 0, 0]
    for m in range(1, steps + 1):
        path = [a + b for a, b in zip(path, tie_counts(model, (m / steps) * x))]
    return at_x, path


QUIET = 1e-4  # rows whose three deviations are all below this: rounding only, no flipped decision
FLIP = 1e-3   # a path point whose input gradient deviates by more than this has a flipped decision


def path_points_census(sp, G, tmp, n, cls, steps, space="pre"):
    """The input gradient dS/dx at every path point x_m = (m/M) x, m = 0..M (m = 0: the zero baseline,
    which RSI Grad-CAM and Integrated Grad-CAM evaluate; IG's Riemann sum starts at m = 1), of image
    n, one point at a time (batch 1): PyTorch float32, gradattr default and --precise against
    float64 at the exact point. Returns per implementation (torch32, default, precise) the list of
    deviations, index m."""
    x64 = torch.cat([x for _, x in sp.inputs])[n:n + 1]
    c = torch.tensor([cls])
    devs = ([], [], [])
    xfile = os.path.join(tmp, "point.npy")
    for m in range(0, steps + 1):
        xm64 = x64 * (m / steps)
        xm32 = x64.float() * (m / steps)
        g64, _, _ = tv.input_grad(sp.model64, xm64, c, space)
        g32, _, _ = tv.input_grad(sp.model32, xm32, c, space)
        ref = g64.numpy()
        devs[0].append(deviation(g32.double().numpy(), ref))
        io.save_npy(xfile, xm32.numpy(), np.float32)
        for k, p in ((1, False), (2, True)):
            g, _ = G.explain(sp.weights, xfile, "saliency", space, cls, 1, 1, p)
            devs[k].append(deviation(g, ref))
    return devs


def fresh_points_census(sp, G, tmp, images, space="pre"):
    """dS/dx of `images` further inputs of the model's ordinary kind, one per call, class = each one's
    float64 top class: deviations (torch32, default, precise) per image, as path_points_census."""
    devs = ([], [], [])
    xfile = os.path.join(tmp, "fresh.npy")
    for x64 in images:
        with torch.no_grad():
            c = sp.model64(x64).argmax(dim=1)
        g64, _, _ = tv.input_grad(sp.model64, x64, c, space)
        g32, _, _ = tv.input_grad(sp.model32, x64.float(), c, space)
        ref = g64.numpy()
        devs[0].append(deviation(g32.double().numpy(), ref))
        io.save_npy(xfile, x64.float().numpy(), np.float32)
        for k, p in ((1, False), (2, True)):
            g, _ = G.explain(sp.weights, xfile, "saliency", space, int(c), 1, 1, p)
            devs[k].append(deviation(g, ref))
    return devs


def centred_seed_entry(classes):
    """e_c's entry of gradattr's Centered seed in float (score::Centered::seed, policies.hpp: 1 - 1/C
    written as the sequential float sum of the other C - 1 entries' 1/C), and its relative error."""
    inv = np.float32(1.0 / classes)
    rest = np.float32(0.0)
    for _ in range(1, classes):
        rest = np.float32(rest + inv)
    exact = 1.0 - 1.0 / classes
    return float(rest), (float(rest) - exact) / exact


# --- gradattr ------------------------------------------------------------------------------------

class Gradattr:
    def __init__(self, binary, tmp):
        self.binary, self.tmp = binary, tmp
        self.seconds = {False: 0.0, True: 0.0}
        self.calls = 0
        self.env = dict(os.environ, OMP_NUM_THREADS="1")

    def run(self, argv, precise):
        cmd = [self.binary] + argv + (["--precise"] if precise else [])
        t = time.time()
        p = subprocess.run(cmd, capture_output=True, text=True, env=self.env)
        self.seconds[precise] += time.time() - t
        self.calls += 1
        if p.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}\n{p.stderr}")
        return p

    def logits(self, weights, xfile, precise):
        out = os.path.join(self.tmp, "logits.npy")
        self.run(["classify", "--weights", weights, "--input", xfile, "--save-logits", out, "--json"], precise)
        return np.load(out).astype(np.float64)

    def explain(self, weights, xfile, method, score, cls, steps, samples, precise):
        out = os.path.join(self.tmp, "raw.npy")
        argv = ["explain", "--weights", weights, "--input", xfile, "--method", method, "--score", score,
                "--class", str(cls), "--steps", str(steps), "--samples", str(samples), "--seed", "0",
                "--save-raw", out, "--json"]
        if method in VARIANT:
            argv += ["--variant", VARIANT[method]]
        p = self.run(argv, precise)
        info = json.loads(p.stdout)
        return np.load(out).astype(np.float64), info


def deviation(m, ref):
    m, ref = np.asarray(m, np.float64), np.asarray(ref, np.float64)
    if m.shape != ref.shape:
        raise ValueError(f"shape {m.shape} vs reference {ref.shape}")
    den = np.abs(ref).max()
    return float(np.abs(m - ref).max() / den) if den > 0 else (0.0 if np.abs(m).max() == 0 else float("inf"))


def ratio(a, b):
    if b > 0:
        return a / b
    return 1.0 if a == 0 else float("inf")


# --- report ----------------------------------------------------------------------------------------

def fmt_ratio(r, limit):
    s = "inf" if r == float("inf") else f"{r:.2f}"
    return s if r <= limit else f"**{s}**"


def table(rows, title=None):
    lines = []
    if title:
        lines += [title, ""]
    lines.append("| model | input | method | score | gradattr dev | gradattr --precise dev | torch float32 dev "
                 "| ratio default | ratio precise |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        lines.append(f"| {r['model']} | {r['input']} | {r['label']} | {r['score']} | {r['dev']:.2e} | "
                     f"{r['dev_p']:.2e} | {r['dev_t']:.2e} | {fmt_ratio(r['ratio'], RATIO_DEFAULT)} | "
                     f"{fmt_ratio(r['ratio_p'], RATIO_PRECISE)} |")
    return lines


def label_of(method):
    return {"logits": "logits", "saliency": "saliency (dS/dx)"}.get(method, method)


def report(rows, specs, args, timing, checks, diag):
    L = []
    L.append("## Accuracy budget: gradattr float32 (default / --precise) and PyTorch float32 against a "
             "float64 PyTorch reference")
    L.append("")
    L.append("Deviation = max |map - ref| / max |ref| per (model, input, method, score); ratio = gradattr dev / "
             f"torch float32 dev; targets: default <= {RATIO_DEFAULT}, --precise <= {RATIO_PRECISE} "
             "(misses in bold).")
    L.append(f"Path methods M = {args.steps} (vgg19 --full: {args.full_steps}), SmoothGrad {args.samples} "
             "samples (gradattr's seeded noise, reproduced), zero baseline, class = the float64 top class.")
    L.append("")
    for sp in specs:
        L.append(f"- {sp.name}: {sp.note}; CAM layer features.{sp.cut_index}; inputs: "
                 + ", ".join(n for n, _ in sp.inputs))
    L.append("")
    L += table(rows)
    L.append("")

    # per method: worst ratios, split by input kind
    def kind(r):
        return "tie-prone" if r["input"].startswith("tie-prone") else "ordinary"
    L.append("### Worst ratio per model and method (over inputs and score spaces)")
    L.append("")
    L.append("| model | method | ordinary: worst default | ordinary: worst precise | tie-prone: worst default "
             "| tie-prone: worst precise | rows | default met | precise met |")
    L.append("|---|---|---|---|---|---|---|---|---|")
    for sp in specs:
        for m in ["logits"] + sp.methods:
            rs = [r for r in rows if r["model"] == sp.name and r["method"] == m]
            if not rs:
                continue
            cells = []
            for k in ("ordinary", "tie-prone"):
                ks = [r for r in rs if kind(r) == k]
                cells.append(fmt_ratio(max(r["ratio"] for r in ks), RATIO_DEFAULT) if ks else "-")
                cells.append(fmt_ratio(max(r["ratio_p"] for r in ks), RATIO_PRECISE) if ks else "-")
            met = sum(r["ratio"] <= RATIO_DEFAULT for r in rs)
            met_p = sum(r["ratio_p"] <= RATIO_PRECISE for r in rs)
            L.append(f"| {sp.name} | {label_of(m)} | " + " | ".join(cells) + f" | {len(rs)} | {met} | {met_p} |")
    L.append("")
    worst = sorted(rows, key=lambda r: -r["ratio"])[:args.worst]
    L += table(worst, f"### The {len(worst)} worst rows by ratio default")
    L.append("")
    worst_p = sorted(rows, key=lambda r: -r["ratio_p"])[:args.worst]
    L += table(worst_p, f"### The {len(worst_p)} worst rows by ratio precise")
    L.append("")
    worst_dev = sorted(rows, key=lambda r: -r["dev"])[:args.worst]
    L += table(worst_dev, f"### The {len(worst_dev)} largest gradattr default deviations")
    L.append("")

    n = len(rows)
    met = [r for r in rows if r["ratio"] <= RATIO_DEFAULT]
    met_p = [r for r in rows if r["ratio_p"] <= RATIO_PRECISE]
    small = [r for r in rows if r["ratio"] > RATIO_DEFAULT and r["dev"] < args.floor]
    small_p = [r for r in rows if r["ratio_p"] > RATIO_PRECISE and r["dev_p"] < args.floor]
    L.append("### Convention check")
    L.append("")
    L.append(checks)
    L.append("")
    L.append(diag)
    L.append("")
    L.append("### Time")
    L.append("")
    L.append(timing)
    L.append("")
    for sp in specs:
        rs = [r for r in rows if r["model"] == sp.name]
        for k in ("ordinary", "tie-prone"):
            ks = [r for r in rs if kind(r) == k]
            if not ks:
                continue
            a = sum(r["ratio"] <= RATIO_DEFAULT for r in ks)
            b = sum(r["ratio_p"] <= RATIO_PRECISE for r in ks)
            L.append(f"- {sp.name}, {k} inputs: {len(ks)} rows; default met {a}, missed {len(ks) - a} "
                     f"({sum(r['ratio'] > RATIO_DEFAULT and r['dev'] < args.floor for r in ks)} with dev < "
                     f"{args.floor:g}); --precise met {b}, missed {len(ks) - b} "
                     f"({sum(r['ratio_p'] > RATIO_PRECISE and r['dev_p'] < args.floor for r in ks)} with dev < "
                     f"{args.floor:g}); largest dev default {max(r['dev'] for r in ks):.2e}, --precise "
                     f"{max(r['dev_p'] for r in ks):.2e}, torch float32 {max(r['dev_t'] for r in ks):.2e}")
    quiet = [r for r in rows if max(r["dev"], r["dev_p"], r["dev_t"]) < QUIET]
    groups = [("all rows", rows), (f"rows where all three deviations are below {QUIET:g} (no decision "
                                   "flip in any of the three)", quiet)]
    for sp in specs:
        for sc in ["-"] + list(sp.spaces or args.scores.split(",")):
            groups.append((f"  of those, {sp.name}, score {sc}",
                           [r for r in quiet if r["model"] == sp.name and r["score"] == sc]))
    for name, rs in groups:
        if rs:
            L.append(f"- {name}: {len(rs)}; median ratio default {np.median([r['ratio'] for r in rs]):.2f} "
                     f"(met {sum(r['ratio'] <= RATIO_DEFAULT for r in rs)}), --precise "
                     f"{np.median([r['ratio_p'] for r in rs]):.2f} (met {sum(r['ratio_p'] <= RATIO_PRECISE for r in rs)}); "
                     f"max ratio default {max(r['ratio'] for r in rs):.2f}, --precise {max(r['ratio_p'] for r in rs):.2f}")
    L.append("")
    w, wp = worst[0], worst_p[0]
    L.append(f"**Summary:** {n} rows. Default <= {RATIO_DEFAULT}x torch float32: {len(met)}/{n} met "
             f"({n - len(met)} missed, {len(small)} of them with gradattr dev < {args.floor:g}); "
             f"--precise <= {RATIO_PRECISE}x: {len(met_p)}/{n} met ({n - len(met_p)} missed, "
             f"{len(small_p)} of them with dev < {args.floor:g}). Worst default: {w['ratio']:.2f}x "
             f"({w['model']}, {w['input']}, {w['label']}, {w['score']}: {w['dev']:.2e} vs {w['dev_t']:.2e}); "
             f"worst --precise: {wp['ratio_p']:.2f}x ({wp['model']}, {wp['input']}, {wp['label']}, {wp['score']}: "
             f"{wp['dev_p']:.2e} vs {wp['dev_t']:.2e}). Largest gradattr default deviation: "
             f"{worst_dev[0]['dev']:.2e} ({worst_dev[0]['model']}, {worst_dev[0]['input']}, "
             f"{worst_dev[0]['label']}, {worst_dev[0]['score']}; torch float32 {worst_dev[0]['dev_t']:.2e}).")
    return "\n".join(L) + "\n"


# --- main ------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gradattr", default=os.path.join(REPO, "build", "examples", "cli", "gradattr"))
    ap.add_argument("--out", help="also write the Markdown report to this file")
    ap.add_argument("--models", default="vgg19/4,fashion", help="comma list of vgg19/4, fashion (or none)")
    ap.add_argument("--full", action="store_true", help="add full-size VGG19 at 224x224 (slow: minutes)")
    ap.add_argument("--full-methods", default="saliency,gradcam,hirescam,layercam,xgradcam,gradcam+,inputxgrad,ig")
    ap.add_argument("--full-steps", type=int, default=16, help="path steps on the full VGG19")
    ap.add_argument("--full-scores", default="pre,post", help="score spaces on the full VGG19")
    ap.add_argument("--steps", type=int, default=50, help="path steps (RSI Grad-CAM, Integrated Grad-CAM, IG)")
    ap.add_argument("--samples", type=int, default=8, help="SmoothGrad samples")
    ap.add_argument("--scores", default=",".join(SCORES))
    ap.add_argument("--methods", default=None, help="comma list (default: all 13)")
    ap.add_argument("--worst", type=int, default=12, help="rows in the worst-rows tables")
    ap.add_argument("--floor", type=float, default=1e-5,
                    help="deviation under which a miss is counted as 'at rounding level' in the summary")
    ap.add_argument("--no-path-census", dest="path_census", action="store_false",
                    help="skip the per-point input gradients along the IG path (score pre)")
    ap.add_argument("--fresh", type=int, default=50,
                    help="further ordinary inputs whose input gradient is checked for flipped decisions (0: none)")
    ap.add_argument("--keep", help="keep the temporary files (weights, inputs) in this directory")
    args = ap.parse_args()
    torch.set_num_threads(1)
    t_start = time.time()
    if not os.access(args.gradattr, os.X_OK):
        raise SystemExit(f"{args.gradattr}: not an executable (--gradattr)")

    tmpobj = None
    if args.keep:
        os.makedirs(args.keep, exist_ok=True)
        tmp = args.keep
    else:
        tmpobj = tempfile.TemporaryDirectory(prefix="gradattr_budget_")
        tmp = tmpobj.name
    # a private copy: the whole run uses one binary even if the build directory is rebuilt meanwhile
    version = binary_version(args.gradattr)
    binary = os.path.join(tmp, "gradattr")
    shutil.copy2(args.gradattr, binary)
    G = Gradattr(binary, tmp)
    specs = build_specs(args, tmp)
    rows = []
    timing = []
    check_lines = []
    census = []
    points = []
    fresh = []
    seeds = []
    for sp in specs:
        methods = [m for m in sp.methods if args.methods is None or m in args.methods.split(",")]
        sp.methods = methods
        spaces = sp.spaces or tuple(args.scores.split(","))
        X64 = torch.cat([x for _, x in sp.inputs])
        X32 = X64.float()
        with torch.no_grad():
            classes = sp.model64(X64).argmax(dim=1)
        t = time.time()
        sg64 = smoothgrad_inputs(X64, args.samples, 0, torch.float64) if "smoothgrad" in methods else []
        sg32 = smoothgrad_inputs(X64, args.samples, 0, torch.float32) if "smoothgrad" in methods else []
        log(f"{sp.name}: float64 reference ({len(sp.inputs)} inputs, {len(methods)} methods x {len(spaces)} scores)")
        ref = torch_maps(sp.model64, X64, classes, spaces, methods, sp.steps, sg64)
        t64 = time.time() - t
        log(f"{sp.name}: float64 reference in {t64:.1f} s; PyTorch float32")
        t = time.time()
        f32 = torch_maps(sp.model32, X32, classes, spaces, methods, sp.steps, sg32)
        t32 = time.time() - t
        log(f"{sp.name}: PyTorch float32 in {t32:.1f} s; tie census; gradattr")
        for n, (iname, _) in enumerate(sp.inputs):
            at_x, path = tie_census(sp.model64, X64[n:n + 1], sp.steps)
            census.append(f"| {sp.name} | {iname} | {at_x[0]} | {at_x[1]} | {at_x[2]} | {at_x[3]} | "
                          f"{path[0]} | {path[1]} | {path[2]} | {path[3]} |")
        b = tie_counts(sp.model64, torch.zeros_like(X64[:1]))
        census.append(f"| {sp.name} | baseline x' = 0 | {b[0]} | {b[1]} | {b[2]} | {b[3]} | - | - | - | - |")
        ncls = int(ref[("logits", "-")].shape[1])
        e, rel = centred_seed_entry(ncls)
        seeds.append(f"- {sp.name}: C = {ncls} classes: gradattr's Centered seed entry for e_c is {e:.9g} "
                     f"instead of 1 - 1/C = {1 - 1 / ncls:.9g} (relative error {rel:.2e})")
        if args.path_census:
            t = time.time()
            for n, (iname, _) in enumerate(sp.inputs):
                d = path_points_census(sp, G, tmp, n, int(classes[n]), sp.steps)
                cells = [f"{dv[0]:.1e}" for dv in d] + [str(sum(v > FLIP for v in dv[1:])) for dv in d] + \
                        [f"{np.median(dv[1:]):.1e}" for dv in d] + [f"{max(dv[1:]):.1e}" for dv in d]
                points.append(f"| {sp.name} | {iname} | {sp.steps} | " + " | ".join(cells) + " |")
            log(f"{sp.name}: path-point census in {time.time() - t:.1f} s")
        if args.fresh and sp.fresh:
            t = time.time()
            d = fresh_points_census(sp, G, tmp, sp.fresh[1](args.fresh))
            cells = [str(sum(v > FLIP for v in dv)) for dv in d] + \
                    [f"{np.median(dv):.1e}" for dv in d] + [f"{max(dv):.1e}" for dv in d]
            fresh.append(f"| {sp.name} | {sp.fresh[0]} | {args.fresh} | " + " | ".join(cells) + " |")
            log(f"{sp.name}: fresh-input census in {time.time() - t:.1f} s")
        g0 = dict(G.seconds)
        for n, (iname, _) in enumerate(sp.inputs):
            xfile = os.path.join(tmp, f"{sp.name.replace('/', '_')}_x{n}.npy")
            io.save_npy(xfile, X32[n:n + 1].numpy(), np.float32)
            c = int(classes[n])
            zr = ref[("logits", "-")][n:n + 1]
            dev_t = deviation(f32[("logits", "-")][n:n + 1], zr)
            d = [deviation(G.logits(sp.weights, xfile, p), zr) for p in (False, True)]
            rows.append(dict(model=sp.name, input=iname, method="logits", label="logits", score="-",
                             dev=d[0], dev_p=d[1], dev_t=dev_t, ratio=ratio(d[0], dev_t), ratio_p=ratio(d[1], dev_t)))
            for s in spaces:
                for m in methods:
                    r = ref[(m, s)][n:n + 1]
                    dev_t = deviation(f32[(m, s)][n:n + 1], r)
                    d = []
                    for p in (False, True):
                        steps = sp.steps
                        mp, info = G.explain(sp.weights, xfile, m, s, c, steps, args.samples, p)
                        im = info["images"][0]
                        if im["class"] != c:
                            raise RuntimeError(f"{sp.name} {iname} {m} {s}: gradattr explained class {im['class']}, not {c}")
                        if m in CAM_METHODS | {"scorecam", "rsi-gradcam", "integrated-gradcam"} and \
                                info["layer"] != f"features.{sp.cut_index}":
                            raise RuntimeError(f"{sp.name}: gradattr's CAM layer is {info['layer']}, "
                                               f"the reference's features.{sp.cut_index}")
                        d.append(deviation(mp, r))
                    rows.append(dict(model=sp.name, input=iname, method=m, label=label_of(m), score=s,
                                     dev=d[0], dev_p=d[1], dev_t=dev_t,
                                     ratio=ratio(d[0], dev_t), ratio_p=ratio(d[1], dev_t)))
            log(f"{sp.name}: {iname} done ({G.calls} gradattr calls so far)")
        gd, gp = G.seconds[False] - g0[False], G.seconds[True] - g0[True]
        timing.append(f"- {sp.name}: PyTorch float64 reference {t64:.1f} s, PyTorch float32 {t32:.1f} s; "
                      f"gradattr CLI calls (each loads the model; wall time summed) default {gd:.1f} s, "
                      f"--precise {gp:.1f} s ({gp / gd:.2f}x)")
        first = [r for r in rows if r["model"] == sp.name and r["input"] == sp.inputs[0][0]]
        bad = [r for r in first if r["dev_p"] > CHECK_TOL]
        worst = max(first, key=lambda r: r["dev_p"])
        check_lines.append(
            f"- {sp.name}, {sp.inputs[0][0]}: gradattr --precise within {CHECK_TOL:g} of the float64 reference "
            f"for {len(first) - len(bad)}/{len(first)} (method, score) rows (largest {worst['dev_p']:.2e}: "
            f"{worst['label']}, {worst['score']})" + (": " + ", ".join(f"{r['label']}/{r['score']} {r['dev_p']:.2e}"
                                                       for r in bad) if bad else ""))
    total = time.time() - t_start
    timing.append(f"- gradattr: {version} (a copy of {args.gradattr} taken at the start)")
    timing.append(f"- total {total:.0f} s ({total / 60:.1f} min) on {cpu_name()}, 1 thread, "
                  f"{G.calls} gradattr calls; torch {torch.__version__}, numpy {np.__version__}, "
                  f"Python {platform.python_version()}")
    diag = ["### Ties in the float64 forward", "",
            f"Max-pool windows (largest value > 0) whose maximum is attained twice (exact) or leads by less than "
            f"{NEAR:g} of the layer's max (near); ReLU inputs (features and classifier) exactly 0 or below "
            f"{NEAR:g} of the layer's max. At x (and at the zero baseline), and "
            f"summed over the path points x_m = (m/M) x, m = 1..M (the path methods' points).", "",
            "| model | input | pool exact (x) | pool near (x) | ReLU exact (x) | ReLU near (x) | pool exact (path) "
            "| pool near (path) | ReLU exact (path) | ReLU near (path) |",
            "|---|---|---|---|---|---|---|---|---|---|"] + census + [
            "", "### Decision flips along the path, point by point", "",
            f"dS/dx (score pre) at each path point x_m = (m/M) x, one point per call (batch 1), against "
            "float64 at the exact point: the deviation at the zero baseline x' = x_0 (evaluated by RSI "
            f"Grad-CAM and Integrated Grad-CAM); over m = 1..M how many points deviate by more than {FLIP:g} "
            "of the gradient's max (a ReLU / max-pool decision flipped somewhere), the median and the "
            "largest per-point deviation. gradattr's seconds for these calls are not in the Time section's "
            "sums.", "",
            "| model | input | M | x' = 0: torch f32 | x' = 0: gradattr | x' = 0: --precise | flips torch f32 "
            "| flips gradattr | flips --precise | median torch f32 | median gradattr | median --precise "
            "| max torch f32 | max gradattr | max --precise |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"] + (points or ["(skipped: --no-path-census)"]) + [
            "", "### Decision flips on further ordinary inputs", "",
            "dS/dx (score pre) of further inputs of each model's ordinary kind, one per call, class = the "
            f"float64 top class: how many deviate by more than {FLIP:g} of the gradient's max, the median and "
            "the largest deviation. gradattr's seconds for these calls are not in the Time section's sums.", "",
            "| model | inputs | count | flips torch f32 | flips gradattr | flips --precise | median torch f32 "
            "| median gradattr | median --precise | max torch f32 | max gradattr | max --precise |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|"] + (fresh or ["(none: --fresh 0, or no further inputs defined for these models: vgg19 --full has none)"]) + [
            "", "### The Centered seed", "",
            "The centred score's seed e_c - 1/C as gradattr computes it (include/gradattr/score/policies.hpp, "
            "score::Centered::seed: every entry -1/C in float, e_c's entry the float sum of the other C - 1 "
            "entries' 1/C, so that the row sums to zero), evaluated here in numpy float32:", ""] + seeds
    text = report(rows, specs, args, "\n".join(timing), "\n".join(check_lines), "\n".join(diag))
    sys.stdout.write(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    log(f"done in {total:.0f} s")
    if tmpobj:
        tmpobj.cleanup()


def binary_version(path):
    """`gradattr --version`, the binary's modification time and the start of its SHA-256."""
    import hashlib
    v = subprocess.run([path, "--version"], capture_output=True, text=True).stdout.strip()
    with open(path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    return (f"{v}, file of {time.strftime('%Y-%m-%d %H:%M', time.localtime(os.path.getmtime(path)))}, "
            f"sha256 {digest}")


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


if __name__ == "__main__":
    main()
