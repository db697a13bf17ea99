#!/usr/bin/python3
"""Full-size torchvision VGG19 with seeded random weights, for comparing the
C++ VGG19 by hand (not run in CI: it writes ~550 MB of weights).

Writes into --out DIR:
  vgg19_random.safetensors  F32, torchvision names (features.0.weight ... classifier.6.bias)
  input.npy                 float32 [1,3,224,224], N(0,1), torch.Generator seed 1
  logits.npy                float64 [1,1000]  (float64 forward of the float32 weights/input)
  logits_f32.npy            float32 [1,1000]  (PyTorch float32 forward, for the f32 tolerance)
  top5.npy                  int64   [1,5]     classes by decreasing logit
  grad_input_{pre,post,log}.npy  float64 [1,3,224,224]: dS/dx for S = z_c /
                            softmax(z)_c / log_softmax(z)_c, c = top class
  summary.json              y_c, z_c, top-5 values, float32-vs-float64 errors

Weights: torch.manual_seed(0); torchvision's VGG init scheme (kaiming_normal
fan_out for convs, N(0, 0.01) for linears) with N(0, 0.05) biases, then a
data-dependent rescale on 4 seeded calibration images (see build()) so the
logits depend on the input and spread a couple of units.

Run:  /usr/bin/python3 tools/check_vgg19_full.py --out /tmp/vgg19check [--dtype float64|float32]
"""
import argparse
import copy
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import vgg19

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradattr_fixtures import io  # noqa: E402


CALIB_N = 4


def rescale(m, calib_n, hw):
    """Data-dependent rescale (LSUV-like, a folded BatchNorm) of a torchvision VGG `m` in place, on
    calib_n seeded N(0,1) images of hw x hw, so the random net does not map every input to nearly
    the same logits: convs standardised per channel; Linear layers centred per unit and scaled by
    one scalar per layer; the last layer scaled to a logit spread of ~2. Also used by
    benchmarks/accuracy_budget.py."""
    with torch.no_grad():
        g = torch.Generator().manual_seed(123)
        h = torch.randn(calib_n, 3, hw, hw, generator=g)
        for mod in m.features:
            if isinstance(mod, nn.Conv2d):
                u = mod(h)
                mu, sd = u.mean((0, 2, 3)), u.std((0, 2, 3))
                mod.weight.div_(sd[:, None, None, None])
                mod.bias.copy_((mod.bias - mu) / sd + torch.randn(mu.shape, generator=g) * 0.05)
            h = mod(h)
        h = torch.flatten(m.avgpool(h), 1)
        for mod in m.classifier:
            if isinstance(mod, nn.Linear):
                u = mod(h)
                mu, sd = u.mean(0), u.std()
                if mod is m.classifier[6]:
                    sd = sd / 2.0
                mod.weight.div_(sd)
                mod.bias.copy_((mod.bias - mu) / sd + torch.randn(mu.shape, generator=g) * 0.05)
            h = mod(h)


def build():
    """Seeded weights; same values on every call (float32)."""
    torch.manual_seed(0)
    m = vgg19(weights=None)          # init_weights=True: torchvision's own scheme
    for mod in m.modules():
        if isinstance(mod, nn.ReLU):
            mod.inplace = False
    m.eval()
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, (nn.Conv2d, nn.Linear)):
                mod.bias.normal_(0.0, 0.05)
        rescale(m, CALIB_N, 224)
    return m


def score(z, c, s):
    if s == "pre":
        return z[0, c]
    if s == "post":
        return F.softmax(z, 1)[0, c]
    return F.log_softmax(z, 1)[0, c]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"],
                    help="precision of the reference forward/backward (weights are float32 values either way)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: PyTorch default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    m32 = build()
    io.save_safetensors(os.path.join(args.out, "vgg19_random.safetensors"),
                        [(k, v.numpy()) for k, v in m32.state_dict().items()],
                        {"format": "pt", "arch": "vgg19", "seed": "torch.manual_seed(0)"})
    g = torch.Generator().manual_seed(1)
    x32 = torch.randn(1, 3, 224, 224, generator=g)
    io.save_npy(os.path.join(args.out, "input.npy"), x32.numpy(), np.float32)

    dt = torch.float64 if args.dtype == "float64" else torch.float32
    m = copy.deepcopy(m32).to(dt)
    x = x32.to(dt)
    with torch.no_grad():
        z = m(x)
        z32 = m32(x32)
    io.save_npy(os.path.join(args.out, "logits.npy"), z.numpy(), np.float64)
    io.save_npy(os.path.join(args.out, "logits_f32.npy"), z32.numpy(), np.float32)
    top5 = torch.argsort(z, 1, descending=True)[:, :5]
    io.save_npy(os.path.join(args.out, "top5.npy"), top5.numpy(), np.int64)
    c = int(top5[0, 0])
    info = {"top5": top5[0].tolist(), "top5_logits": z[0, top5[0]].tolist(),
            "z_c": float(z[0, c]), "y_c": float(F.softmax(z, 1)[0, c]),
            "logits_f32_max_abs_err": float((z32.double() - z.double()).abs().max()),
            "dtype": args.dtype}
    for s in ("pre", "post", "log"):
        xx = x.clone().requires_grad_(True)
        (gx,) = torch.autograd.grad(score(m(xx), c, s), xx)
        io.save_npy(os.path.join(args.out, f"grad_input_{s}.npy"), gx.numpy(), np.float64)
        info[f"grad_input_{s}_absmax"] = float(gx.abs().max())
    info["seconds"] = round(time.time() - t0, 1)
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    print(json.dumps(info, indent=1))


if __name__ == "__main__":
    main()
