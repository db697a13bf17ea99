#!/usr/bin/python3
"""Write tests/data/onnx/resnet_basic_f64/methods/: every attribution method (and each of its
documented variants) x every score space (pre, post, log, centered) on the float64 ResNet of
tests/data/onnx/resnet_basic_f64, at two cuts (layer4, and layer3.0.relu inside a block, where
the block input crosses the cut through downsample), computed in float64 PyTorch -- never with
gradattr.

Run:  /usr/bin/python3 tools/make_onnx_method_fixtures.py [--out tests/data/onnx/resnet_basic_f64/methods]

The model: tools/make_onnx_fixtures.py's own builder and seeds (build(), perturb_f64(),
seeded_input()), checked against resnet_basic_f64/logits.npy to 1e-12 before anything is
computed.  The batch: x.npy and a second seeded image (seeded_input(4000 + 11)); class of each
image: the second-largest logit (as make_onnx_fixtures.pick_class; image 0's is meta.json's).

The formulas are those of docs/methods.md and of the VGG references, whose functions are
reused: tools/make_attribution_fixtures.py (Grad-CAM, Grad-CAM+, Grad-CAM++ closed form and
paper form, XGrad-CAM, Score-CAM scores and masks, RSI Grad-CAM, Integrated Grad-CAM signed,
IG) and tools/make_variant_fixtures.py (Grad-CAM++ exact weights, RSI relu/guided, Integrated
Grad-CAM clamped).  Those functions take the layer activation and gradient from
gradattr_fixtures.tinyvgg.layer_act_and_grad (the VGG's features[:36] split); this script points
that one function at a forward hook on the ResNet's module (CutModel below: the output of the
module's first call replaced by a leaf, so dS/dA holds every value not computed from A fixed --
the skip path into layer3.0's Add stays the value computed from the input).  Grad-CAM++'s exact
S', S'', S''' come from nested autograd over a batch of perturbed copies of A, as in
make_variant_fixtures.exact_derivatives, with the head run through the same hook.

Path methods: M = 8 steps, zero baseline.  SmoothGrad: 4 given noise tensors
(smoothgrad_noise_<s>.npy, eps = sigma_n N(0,1), sigma_n = 0.15 (max - min) of image n, torch
Generator seed 7), class fixed.  README.md of the output directory lists what each file is.
Deterministic and idempotent.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradattr_fixtures import io, onnxref as R, tinyvgg as tv  # noqa: E402
import make_attribution_fixtures as base  # noqa: E402
import make_onnx_fixtures as mof  # noqa: E402
import make_variant_fixtures as var  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(REPO, "tests", "data", "onnx", "resnet_basic_f64")
SPACES = ("pre", "post", "log", "centered")
CUTS = ("layer4", "layer3.0.relu")
M_PATH = 8
SG_SAMPLES = 4
SG_SEED = 7
SECOND_IMAGE_SEED = 4000 + 11


def relu(t):
    return t.clamp_min(0)


# --- the model, cut at a module's output --------------------------------------------

class CutModel:
    """The torch ResNet with a cut at the output of module `cut`'s first call: calling it is
    the plain forward; head(x, a) runs the forward on x with that output replaced by a."""

    def __init__(self, model, cut):
        self.model, self.cut = model, cut
        self.mod = R.get_module(model, cut)

    def __call__(self, x):
        return self.model(x)

    def head(self, x, a):
        calls = [0]

        def hook(mod, inp, out):
            calls[0] += 1
            return a if calls[0] == 1 else None

        h = self.mod.register_forward_hook(hook)
        try:
            z = self.model(x)
        finally:
            h.remove()
        assert calls[0] >= 1, self.cut
        return z

    def act(self, x):
        a, n = R.module_output(self.model, x, self.cut, 0)
        assert n >= 1
        return a


def layer_act_and_grad(cm, x, classes, space, idx=None, head=None):
    """tinyvgg.layer_act_and_grad for a CutModel: (A, dS/dA, z, S_n), S = sum_n S_n."""
    assert idx is None and head is None
    a = cm.act(x).clone().requires_grad_(True)
    z = cm.head(x, a)
    s = tv.score_per_image(z, classes, space)
    (g,) = torch.autograd.grad(s.sum(), a)
    return a.detach(), g.detach(), z.detach(), s.detach()


# the VGG references' functions call tv.layer_act_and_grad(model, x, classes, space): with a
# CutModel as `model` they get the ResNet's cut (the VGG's own path is never used here)
_vgg_layer_act_and_grad = tv.layer_act_and_grad


def _dispatch(model, *args, **kw):
    if isinstance(model, CutModel):
        return layer_act_and_grad(model, *args, **kw)
    return _vgg_layer_act_and_grad(model, *args, **kw)


tv.layer_act_and_grad = _dispatch


def exact_derivatives(cm, x, A, classes, space):
    """make_variant_fixtures.exact_derivatives with the ResNet head: S', S'', S''' of each
    image's score along every element u of A, by nested autograd over P copies A + t_u e_u
    (the input x_n repeated P times, so the skip values are those of x_n)."""
    N = A.shape[0]
    P = A[0].numel()
    d = [torch.zeros_like(A) for _ in range(3)]
    for n in range(N):
        t = torch.zeros(P, dtype=A.dtype, requires_grad=True)
        eye = torch.eye(P, dtype=A.dtype).reshape(P, *A.shape[1:])
        batch = A[n][None].expand(P, *A.shape[1:]) + t[:, None, None, None] * eye
        z = cm.head(x[n][None].expand(P, *x.shape[1:]), batch)
        f = tv.score_per_image(z, classes[n].repeat(P), space)
        (f1,) = torch.autograd.grad(f.sum(), t, create_graph=True)
        f2 = torch.autograd.grad(f1.sum(), t, create_graph=True, allow_unused=True)[0] if f1.requires_grad else None
        if f2 is None or not f2.requires_grad:
            f3 = None
        else:
            (f3,) = torch.autograd.grad(f2.sum(), t, allow_unused=True)
        if f2 is None:
            f2 = torch.zeros_like(t)
        if f3 is None:
            f3 = torch.zeros_like(t)
        for k, fk in enumerate((f1, f2, f3)):
            d[k][n] = fk.detach().reshape(A.shape[1:])
    return d


# --- main ---------------------------------------------------------------------------

def load_model():
    spec = next(s for s in mof.MODELS if s["name"] == "resnet_basic")
    model = mof.build(spec)
    m64 = mof.perturb_f64(model, 2000 + spec["seed"])
    x0 = mof.seeded_input(3000 + spec["seed"], spec["hw"], torch.float64)
    assert np.array_equal(x0.numpy(), np.load(os.path.join(DATA, "x.npy"))), "x.npy is not the seeded input"
    with torch.no_grad():
        z0 = m64(x0)
    err = mof.rel(z0, np.load(os.path.join(DATA, "logits.npy")))
    assert err < 1e-12, f"not the model of resnet_basic_f64/logits.npy: {err}"
    x1 = mof.seeded_input(SECOND_IMAGE_SEED, spec["hw"], torch.float64)
    return m64, torch.cat([x0, x1]), err


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(DATA, "methods"))
    args = ap.parse_args()
    R.setup_determinism()
    os.makedirs(args.out, exist_ok=True)
    model, x, logits_err = load_model()
    with torch.no_grad():
        z = model(x)
    classes = torch.tensor([mof.pick_class(z[n][None])[0] for n in range(x.shape[0])])
    meta = json.load(open(os.path.join(DATA, "meta.json")))
    assert int(classes[0]) == meta["class"], (classes, meta["class"])
    xb = torch.zeros_like(x)
    files = {}

    def save(name, arr, what):
        a = io.save_npy(os.path.join(args.out, name), arr.detach().cpu().numpy(), np.float64)
        files[name] = {"shape": list(a.shape), "what": what}

    save("x2.npy", x, "the batch: [x.npy, seeded_input(4000 + 11)] (float64)")
    save("classes.npy", classes.double(), "class of each image (second-largest logit), as float64")

    # SmoothGrad's given noise, one [N,3,H,W] tensor per sample (float64 values)
    sigma = 0.15 * (x.amax(dim=(1, 2, 3)) - x.amin(dim=(1, 2, 3)))
    gen = torch.Generator().manual_seed(SG_SEED)
    noise = torch.randn(SG_SAMPLES, *x.shape, generator=gen, dtype=torch.float64) * sigma[None, :, None, None, None]
    for s_ in range(SG_SAMPLES):
        save(f"smoothgrad_noise_{s_}.npy", noise[s_],
             f"SmoothGrad noise sample {s_}: sigma_n N(0,1) (Generator seed {SG_SEED}), sigma_n = 0.15 (max - min) of image n")

    def name(method, variant, cut, space):
        return f"{method}__{variant}__{cut}__{space}.npy"

    stats = {"logits_vs_logits.npy": logits_err, "classes": classes.tolist(),
             "y_c": torch.softmax(z, 1).gather(1, classes[:, None])[:, 0].tolist()}
    with torch.no_grad():
        z_b = model(xb)
    for cut in CUTS:
        cm = CutModel(model, cut)
        A0 = cm.act(x)
        _, sc = base.scorecam(cm, x, A0, classes, SPACES, False, base.EPS_SCORECAM)
        for s in SPACES:
            A, g, _, S = layer_act_and_grad(cm, x, classes, s)
            cam = base.cam_from_weights
            save(name("gradcam", "default", cut, s), cam(base.w_gradcam(A, g), A), "sum_k mean_ij(g_k) A_k")
            save(name("gradcamplus", "default", cut, s), cam(base.w_gradcamplus(A, g), A), "sum_k sum_ij ReLU(g_k) A_k")
            d1, d2, d3 = exact_derivatives(cm, x, A, classes, s)
            assert torch.allclose(d1, g, rtol=1e-9, atol=1e-12 * float(g.abs().max())), (cut, s)
            if s in ("pre", "centered"):
                assert d2.abs().max() == 0 and d3.abs().max() == 0, (cut, s)
            save(name("gradcamplusplus", "exact", cut, s), cam(var.w_gradcampp_exact(A, d1, d2, d3), A),
                 "Grad-CAM++ with alpha from S', S'', S''' by nested autograd (make_variant_fixtures)")
            save(name("gradcamplusplus", "closed-form", cut, s), cam(base.w_gradcampp(A, g), A),
                 "alpha = g^2/(2g^2 + s_k g^3 + 1e-6) (pytorch-grad-cam)")
            save(name("gradcamplusplus", "paper", cut, s),
                 torch.exp(S)[:, None, None] * cam(base.w_gradcampp_paper_unscaled(A, g), A),
                 "exp(S_n) * sum_k (sum_ij alpha/c_k ReLU(g)) A_k, alpha without eps")
            save(name("hirescam", "default", cut, s), (g * A).sum(dim=1), "sum_k g_k * A_k")
            save(name("xgradcam", "default", cut, s), cam(base.w_xgradcam(A, g), A),
                 "w_k = sum g A / (sum A + 1e-7)")
            save(name("layercam", "default", cut, s), (relu(g) * A).sum(dim=1), "sum_k ReLU(g_k) * A_k")
            s_b = tv.score_per_image(z_b, classes, s)
            save(name("scorecam", "increase", cut, s), cam(sc[s] - s_b[:, None], A0),
                 "w_k = S(x * M_k) - S(0); masks half-pixel bilinear, (M - min)/(max - min + 1e-7)")
            save(name("scorecam", "softmax", cut, s), cam(torch.softmax(sc[s], dim=1), A0), "w = softmax_k S(x * M_k)")
            save(name("scorecam", "raw", cut, s), cam(sc[s], A0), "w_k = S(x * M_k)")
            raw, _, sumG, dS = base.rsi_gradcam(cm, x, xb, classes, s, M_PATH)
            save(name("rsi-gradcam", "paper", cut, s), raw, f"RSI Grad-CAM, M = {M_PATH}, zero baseline")
            stats[f"rsi_completeness_{cut}_{s}"] = {"sumG": sumG.tolist(), "dS": dS.tolist()}
            for mode in ("relu", "guided"):
                save(name("rsi-gradcam", "relu-gradients" if mode == "relu" else "guided", cut, s),
                     var.rsi_variant(cm, x, xb, classes, s, M_PATH, mode), f"RSI Grad-CAM {mode}, M = {M_PATH}")
            save(name("integrated-gradcam", "clamped", cut, s),
                 var.integrated_gradcam_clamped(cm, x, xb, classes, s, M_PATH),
                 f"sum_{{m<M}} ReLU(gradcam(x_m)), M = {M_PATH}")
            save(name("integrated-gradcam", "signed", cut, s), base.integrated_gradcam(cm, x, xb, classes, s, M_PATH),
                 f"sum_{{m<M}} gradcam(x_m), M = {M_PATH}")
            # the reference's own identity (docs/methods.md s.1) at this cut
            if s == "log":
                A_, gp, _, _ = layer_act_and_grad(cm, x, classes, "post")
                yc = torch.softmax(z, 1).gather(1, classes[:, None])[:, 0]
                assert torch.allclose(gp, yc[:, None, None, None] * g, rtol=1e-9, atol=1e-15)
        print(f"{cut}: done", flush=True)

    cm = CutModel(model, CUTS[0])
    for s in SPACES:
        gx, _, _ = tv.input_grad(cm, x, classes, s)
        # Saliency's variants (max-abs, signed) change the display only: one raw map for both
        save(name("saliency", "max-abs", "input", s), gx, "dS/dx (the raw map of every Saliency variant)")
        save(name("inputxgrad", "default", "input", s), x * gx, "x * dS/dx")
        ig_r, _, dS = base.integrated_gradients(cm, x, xb, classes, s, M_PATH)
        save(name("ig", "default", "input", s), ig_r, f"(x - 0) * (1/M) sum_{{m=1..M}} dS(x_m)/dx, M = {M_PATH}")
        gs = [tv.input_grad(cm, x + noise[i], classes, s)[0] for i in range(SG_SAMPLES)]
        save(name("smoothgrad", "default", "input", s), sum(gs) / SG_SAMPLES, "(1/S) sum_s dS(x + eps_s)/dx")
    print("input methods: done", flush=True)

    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump({"generator": "tools/make_onnx_method_fixtures.py",
                   "model": "tests/data/onnx/resnet_basic_f64/model.onnx (torch: make_onnx_fixtures build + perturb_f64)",
                   "naming": "<method>__<variant>__<cut>__<space>.npy; method = gradattr's CLI name with "
                             "'+' written 'plus'; variant = kVariantInfo's name, 'default' for a method without "
                             "variants (Saliency: max-abs only, the raw map of both); cut = the module path, 'input' for "
                             "input methods; raw map [2,h,w] (CAM) or [2,3,64,64] (input methods), float64",
                   "steps": M_PATH, "baseline": "zeros", "smoothgrad_samples": SG_SAMPLES,
                   "stats": stats, "files": files}, f, indent=1, sort_keys=True)
        f.write("\n")
    print(json.dumps(stats, indent=1))


if __name__ == "__main__":
    main()
