#!/usr/bin/python3
"""Check a full-size torchvision ViT exported to ONNX against torchvision in float64
(docs/torchvision-check.md, section 3). Not in CI: each export is ~330 MB.

Run:  /usr/bin/python3 tools/check_vit_torchvision.py --model vit_b_32 [--gradattr build/examples/cli/gradattr]
                                                      [--dir /tmp/vit_check] [--opsets 17,13]

`torchvision.models.<model>(weights=None)` with torch.manual_seed(0), the (zero-initialised) head
set to N(0, 0.02) (generator seed 1), eval mode; one input torch.randn(1, 3, 224, 224) (generator
seed 5); exported with torch.onnx.export(m, x, f, opset_version=OPSET, do_constant_folding=True,
input_names=["input"], output_names=["logits"]); gradattr runs
`gradattr classify --weights f --input x.npy --top 5 --save-logits z.npy`. Prints, per opset, the
top-5 classes of both and max |z_gradattr - z_torch|, and exits 1 when the top-5 differ or the
error exceeds 1e-4 relative to max |z|.
"""
import argparse
import copy
import os
import subprocess
import sys
import warnings

import numpy as np
import torch
import torchvision


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="vit_b_32", choices=["vit_b_16", "vit_b_32", "vit_l_16", "vit_l_32"])
    ap.add_argument("--gradattr", default="build/examples/cli/gradattr")
    ap.add_argument("--dir", default="/tmp/vit_check")
    ap.add_argument("--opsets", default="17,13")
    args = ap.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    torch.manual_seed(0)
    m = getattr(torchvision.models, args.model)(weights=None).eval()
    with torch.no_grad():
        m.heads.head.weight.copy_(0.02 * torch.randn(m.heads.head.weight.shape, generator=torch.Generator().manual_seed(1)))
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(5))
    xf = os.path.join(args.dir, "x.npy")
    np.save(xf, x.numpy())
    with torch.no_grad():
        z_ref = copy.deepcopy(m).double()(x.double())[0].numpy()
    top_ref = list(np.argsort(-z_ref)[:5])
    print(f"{args.model}: torchvision float64 top-5 {top_ref}, max |z| = {np.abs(z_ref).max():.3g}")
    ok = True
    for opset in (int(o) for o in args.opsets.split(",")):
        f = os.path.join(args.dir, f"{args.model}_{opset}.onnx")
        if not os.path.exists(f):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(m, x, f, opset_version=opset, do_constant_folding=True, input_names=["input"],
                                  output_names=["logits"])
        zf = os.path.join(args.dir, f"z_{args.model}_{opset}.npy")
        p = subprocess.run([args.gradattr, "classify", "--weights", f, "--input", xf, "--top", "5", "--save-logits", zf],
                           capture_output=True, text=True)
        if p.returncode != 0:
            print(f"opset {opset}: gradattr failed ({p.returncode}): {p.stderr.strip()}")
            ok = False
            continue
        z = np.load(zf).reshape(-1).astype(np.float64)
        top = list(np.argsort(-z)[:5])
        err = float(np.abs(z - z_ref).max())
        rel = err / float(np.abs(z_ref).max())
        print(f"opset {opset}: gradattr float32 top-5 {top}, max |dz| = {err:.2g} ({rel:.2g} relative)")
        ok = ok and top == top_ref and rel <= 1e-4
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
