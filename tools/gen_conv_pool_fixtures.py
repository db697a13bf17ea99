#!/usr/bin/python3
"""Write tests/data/ops/conv_*.npy and pool_*.npy: convolution and pooling configurations of
ONNX CNNs (groups, depthwise, dilation, stride 2 with asymmetric pads, 1x1 stride 2, 7x7
stride 2, max/avg pooling with ceil_mode and asymmetric pads) computed by PyTorch, for
tests/autodiff/ops/conv.cpp and pool.cpp ("... match PyTorch").

For each case, in float64: the inputs (x, and w, b for a convolution), a fixed weight c of the
same shape as the output, the output y, and the gradients of L = sum(y * c) with respect to
every input (dx; dw, db). Asymmetric pads, which torch's conv2d / max_pool2d do not take, are
applied with F.pad first (zeros for convolution and average pooling with count_include_pad,
-inf for max pooling), then the op runs unpadded; the generator asserts that the output shape
is the one the ONNX rule gives (floor, or ceil with the last window starting inside the input
or the top/left padding).

Run from the repository root:  /usr/bin/python3 tools/gen_conv_pool_fixtures.py [--out tests/data/ops]
Deterministic and idempotent (seeded, double precision, 1 thread).
"""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradattr_fixtures import io  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# name: x shape, w shape, stride (h, w), pads (top, left, bottom, right), dilation (h, w), groups
CONV_CASES = {
    "group2": ([2, 4, 7, 9], [6, 2, 3, 3], (1, 1), (1, 1, 1, 1), (1, 1), 2),
    "dw5s2_asym": ([1, 5, 9, 7], [5, 1, 5, 5], (2, 2), (1, 2, 2, 1), (1, 1), 5),
    "dw3s1": ([3, 3, 7, 9], [3, 1, 3, 3], (1, 1), (1, 1, 1, 1), (1, 1), 3),
    "dil2": ([2, 3, 9, 8], [4, 3, 3, 3], (1, 1), (2, 2, 2, 2), (2, 2), 1),
    "7x7s2": ([1, 3, 15, 13], [4, 3, 7, 7], (2, 2), (3, 3, 3, 3), (1, 1), 1),
    "1x1s2": ([2, 5, 7, 9], [3, 5, 1, 1], (2, 2), (0, 0, 0, 0), (1, 1), 1),
}

# name: kind, x shape, kernel (h, w), stride (h, w), pads (top, left, bottom, right), ceil_mode,
# count_include_pad (average pooling only)
POOL_CASES = {
    "max_ceil_asym": ("max", [2, 3, 7, 9], (3, 3), (2, 2), (0, 1, 1, 1), True, None),
    "max_3x3s2p1": ("max", [1, 3, 9, 8], (3, 3), (2, 2), (1, 1, 1, 1), False, None),
    "avg_ceil_incl": ("avg", [2, 3, 6, 7], (3, 3), (2, 2), (1, 1, 1, 1), True, True),
    "avg_ceil_excl": ("avg", [2, 3, 6, 7], (3, 3), (2, 2), (1, 1, 1, 1), True, False),
    "avg_2x2_ceil": ("avg", [1, 3, 7, 9], (2, 2), (2, 2), (0, 0, 0, 0), True, True),
    "avg_asym_incl": ("avg", [1, 2, 7, 8], (3, 3), (2, 2), (1, 0, 0, 1), False, True),
}


def onnx_out(n, k, s, lo, hi, ceil_mode):
    span = n + lo + hi - k
    out = (math.ceil(span / s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + lo:
        out -= 1
    return out


def rand(shape, g):
    return torch.rand(shape, generator=g, dtype=torch.float64) * 2 - 1


def conv_case(name, spec, g, out):
    xs, ws, stride, (pt, pl, pb, pr), dil, groups = spec
    x = rand(xs, g).requires_grad_()
    w = rand(ws, g).requires_grad_()
    b = rand([ws[0]], g).requires_grad_()
    y = F.conv2d(F.pad(x, (pl, pr, pt, pb)), w, b, stride=stride, dilation=dil, groups=groups)
    eh, ew = dil[0] * (ws[2] - 1) + 1, dil[1] * (ws[3] - 1) + 1
    assert list(y.shape[2:]) == [onnx_out(xs[2], eh, stride[0], pt, pb, False),
                                 onnx_out(xs[3], ew, stride[1], pl, pr, False)], name
    c = rand(list(y.shape), g)
    dx, dw, db = torch.autograd.grad((y * c).sum(), [x, w, b])
    for k, v in {"x": x, "w": w, "b": b, "c": c, "y": y, "dx": dx, "dw": dw, "db": db}.items():
        io.save_npy(os.path.join(out, f"conv_{name}_{k}.npy"), v.detach().numpy())


def pool_case(name, spec, g, out):
    kind, xs, k, s, (pt, pl, pb, pr), ceil_mode, include_pad = spec
    x = rand(xs, g).requires_grad_()
    symmetric = pt == pb and pl == pr
    if kind == "max":
        if symmetric:
            y = F.max_pool2d(x, k, s, (pt, pl), ceil_mode=ceil_mode)
        else:  # -inf padding, then unpadded pooling (the ceil rules agree here: asserted below)
            y = F.max_pool2d(F.pad(x, (pl, pr, pt, pb), value=-math.inf), k, s, 0, ceil_mode=ceil_mode)
    else:
        if symmetric:
            y = F.avg_pool2d(x, k, s, (pt, pl), ceil_mode=ceil_mode, count_include_pad=include_pad)
        else:  # zero padding counted: only with count_include_pad and windows inside the padded input
            assert include_pad and not ceil_mode, name
            y = F.avg_pool2d(F.pad(x, (pl, pr, pt, pb)), k, s, 0, ceil_mode=False)
    assert list(y.shape[2:]) == [onnx_out(xs[2], k[0], s[0], pt, pb, ceil_mode),
                                 onnx_out(xs[3], k[1], s[1], pl, pr, ceil_mode)], name
    c = rand(list(y.shape), g)
    (dx,) = torch.autograd.grad((y * c).sum(), [x])
    for key, v in {"x": x, "c": c, "y": y, "dx": dx}.items():
        io.save_npy(os.path.join(out, f"pool_{name}_{key}.npy"), v.detach().numpy())


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data", "ops"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    g = torch.Generator().manual_seed(20240607)
    for name, spec in CONV_CASES.items():
        conv_case(name, spec, g, args.out)
    for name, spec in POOL_CASES.items():
        pool_case(name, spec, g, args.out)


if __name__ == "__main__":
    main()
