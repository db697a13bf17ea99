#!/usr/bin/python3
"""Writes tests/data/ops/pointwise_*.npy: reference values and gradients of the graph ops
(gradattr::ad, ops.hpp "graph ops") computed by PyTorch 1.13 in float64 (Debian python3-torch).

Run from the repository root: /usr/bin/python3 tools/gen_pointwise_fixtures.py
Deterministic: re-running it gives identical bytes.

Inputs (pointwise_in_*.npy) are float32 values stored as float64, so the float and double C++
paths see the same numbers. For each case, with w[i] = sin(0.37 i + 0.1) over the flattened
output (the same formula in tests/autodiff/ops/graph_fixtures.cpp):
  pointwise_<case>_y.npy     the output
  pointwise_<case>_g<k>.npy  d sum(w * y) / d input k
The ops are written with torch's own functions (F.hardtanh for Clip's gradient convention,
F.hardswish, F.gelu, torch.matmul, ...), not from the C++ code.
"""
import os

import numpy as np
import torch
import torch.nn.functional as F

torch.set_num_threads(1)
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "data", "ops")


def inp(shape, seed, lo=-1.0, hi=1.0):
    g = torch.Generator().manual_seed(seed)
    t = torch.rand(shape, generator=g, dtype=torch.float64) * (hi - lo) + lo
    return t.float().double()  # float32 values


INPUTS = {
    "x4": inp((2, 3, 4, 5), 1, -4.0, 4.0),
    "se": inp((2, 3, 1, 1), 2, 0.5, 2.0),
    "bias": inp((3, 1, 1), 3),
    "c3": inp((3,), 4, 0.5, 1.5),
    "a315": inp((3, 1, 5), 5),
    "b141": inp((1, 4, 1), 6, 0.5, 2.0),
    "m234": inp((2, 3, 4), 7),
    "m45": inp((4, 5), 8),
    "v4": inp((4,), 9),
    "m243": inp((2, 4, 3), 10),
    "pos": inp((2, 3, 5), 11, 0.25, 3.0),
    "scalar": inp((), 12, 0.5, 2.0),
}

# name -> (input names, function)
CASES = {
    "mul_se": (["x4", "se"], lambda a, b: a * b),
    "add_bias": (["x4", "bias"], lambda a, b: a + b),
    "div_both": (["a315", "b141"], lambda a, b: a / b),
    "sub_scalar": (["scalar", "m234"], lambda a, b: a - b),
    "channel_affine": (["x4", "c3", "c3"], lambda x, s, t: x * s.view(1, 3, 1, 1) + t.view(1, 3, 1, 1)),
    "relu6": (["x4"], lambda x: F.relu6(x)),
    "clip": (["x4"], lambda x: F.hardtanh(x, -1.25, 2.5)),
    "sigmoid": (["x4"], torch.sigmoid),
    "hard_sigmoid": (["x4"], F.hardsigmoid),
    "hard_swish": (["x4"], F.hardswish),
    "tanh": (["x4"], torch.tanh),
    "erf": (["x4"], torch.erf),
    "gelu": (["x4"], F.gelu),
    "sqrt": (["pos"], torch.sqrt),
    "pow": (["pos"], lambda x: torch.pow(x, 2.5)),
    "reduce_mean": (["x4"], lambda x: x.mean(dim=(2, 3), keepdim=True)),
    "reduce_sum": (["x4"], lambda x: x.sum(dim=(0, -1))),
    "softmax1": (["m234"], lambda x: torch.softmax(x, 1)),
    "log_softmax_last": (["m234"], lambda x: torch.log_softmax(x, -1)),
    "matmul_batch": (["m234", "m45"], torch.matmul),
    "matmul_vec": (["v4", "m243"], torch.matmul),
    "concat1": (["x4", "x4"], lambda a, b: torch.cat([a, b * 2], 1)),
    "transpose": (["x4"], lambda x: x.permute(0, 2, 3, 1)),
    "pad": (["x4"], lambda x: F.pad(x, (2, 1, 1, 0), value=0.5)),  # W: 2 before, 1 after; H: 1, 0
    "slice": (["x4"], lambda x: x[:, 1:3, 0::2, 1::3]),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, t in INPUTS.items():
        np.save(os.path.join(OUT, f"pointwise_in_{name}.npy"), t.numpy())
    for case, (names, fn) in CASES.items():
        xs = [INPUTS[n].clone().requires_grad_(True) for n in names]
        y = fn(*xs)
        w = torch.sin(0.37 * torch.arange(y.numel(), dtype=torch.float64) + 0.1).reshape(y.shape)
        gs = torch.autograd.grad((w * y).sum(), xs)
        np.save(os.path.join(OUT, f"pointwise_{case}_y.npy"), y.detach().numpy())
        for k, g in enumerate(gs):
            np.save(os.path.join(OUT, f"pointwise_{case}_g{k}.npy"), g.numpy())


if __name__ == "__main__":
    main()
