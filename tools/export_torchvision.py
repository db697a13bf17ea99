#!/usr/bin/python3
"""Export a full-size torchvision classifier with seeded random weights to ONNX, for
benchmarks and for trying gradattr's ONNX importer on a real architecture.

Run:  /usr/bin/python3 tools/export_torchvision.py --model resnet50 --seed 0 --out /tmp/resnet50.onnx
      [--opset 17] [--size 224] [--batch 1] [--dynamic-batch] [--ref DIR] [--calib-n 2] [--threads 1]

--model   resnet18 | resnet50 | densenet121 | mobilenet_v2 | efficientnet_b0 | vgg19 | vgg19_bn |
          vit_b_16 (224 only)
          (torchvision.models.<name>(weights=None): no download, 1000 classes)
--seed    torch.manual_seed for the weights; BatchNorm is then set to seeded non-trivial
          values (gradattr_fixtures/onnxref.py calibrate_bn: random affine parameters,
          running statistics of --calib-n seeded N(0,1) images, jittered) so BN is not
          the identity, and the last Linear is scaled so the logits spread (std ~2)
--out     the .onnx file (required; nothing is written into the repository unless you
          point --out there)
--size    input H = W (input [batch,3,size,size]); vgg19 and vgg19_bn need a multiple of 224
          (torch 1.13 exports their AdaptiveAvgPool2d((7,7)) only when 7 divides the last
          feature map)
--batch   the batch dimension the file fixes (default 1)
--dynamic-batch  export the batch dimension of input and logits as a symbolic "batch"
          (dynamic_axes); --batch is then only the tracing batch.  gradattr's ONNX loader
          does not accept a symbolic batch yet (it takes the input shape from the file), so
          benchmarks/compare_onnxruntime.py writes one fixed-batch file per batch size
--ref     also write DIR/x.npy (seeded input, float32), DIR/logits.npy (torch float32
          forward) and DIR/meta.json (model, seed, ops, class/argmax)

Export options as for the test fixtures: opset_version=--opset, do_constant_folding=True,
input_names=["input"], output_names=["logits"], eval mode.  The file is checked with
onnx.checker.check_model.  Deterministic for a given seed, size and opset.
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import onnx
import torch
import torchvision.models as tvm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradattr_fixtures import io, onnxref as R  # noqa: E402

MODELS = {
    "resnet18": "fc",
    "resnet50": "fc",
    "densenet121": "classifier",
    "mobilenet_v2": "classifier.1",
    "efficientnet_b0": "classifier.1",
    "vgg19": "classifier.6",
    "vit_b_16": "heads.head",
    "vgg19_bn": "classifier.6",
}


def build_model(name, seed, size=224, calib_n=2):
    """The seeded model this script exports (eval mode, activations not in place); also what
    benchmarks/compare_pytorch.py --model times, so both sides run the same weights."""
    torch.manual_seed(seed)
    model = R.no_inplace(getattr(tvm, name)(weights=None)).eval()
    g = torch.Generator().manual_seed(1000 + seed)
    xcal = torch.randn(calib_n, 3, size, size, generator=g)
    R.calibrate_bn(model, xcal, g)
    head = R.get_module(model, MODELS[name])
    if not head.weight.detach().any():  # vit_b_16's head is zero-initialised: seeded N(0, 0.01) first
        with torch.no_grad():
            head.weight.copy_(0.01 * torch.randn(head.weight.shape, generator=g))
    R.scale_head(model, head, xcal)
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, choices=sorted(MODELS))
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--opset", type=int, default=17)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--dynamic-batch", action="store_true")
    ap.add_argument("--ref", default=None)
    ap.add_argument("--calib-n", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    if args.model in ("vgg19", "vgg19_bn") and args.size % 224:
        ap.error(f"{args.model}: --size must be a multiple of 224 (AdaptiveAvgPool2d((7,7)) export)")

    t0 = time.time()
    R.setup_determinism()
    torch.set_num_threads(args.threads)
    model = build_model(args.model, args.seed, args.size, args.calib_n)
    if args.batch < 1:
        ap.error("--batch must be at least 1")
    x = torch.randn(args.batch, 3, args.size, args.size, generator=torch.Generator().manual_seed(args.seed + 1))

    data = R.export_bytes(model, x, args.opset, dynamic_batch=args.dynamic_batch)
    mp = onnx.load_from_string(data)
    onnx.checker.check_model(mp)
    io._atomic_write_bytes(args.out, [data])
    print(f"{args.out}: {len(data)} bytes, {len(mp.graph.node)} nodes, ops {R.op_counts(mp)}")

    if args.ref:
        with torch.no_grad():
            z = model(x)
        order = torch.argsort(z[0], descending=True)
        io.save_npy(os.path.join(args.ref, "x.npy"), x.numpy(), np.float32)
        io.save_npy(os.path.join(args.ref, "logits.npy"), z.numpy(), np.float32)
        meta = {"model": args.model, "seed": args.seed, "opset": args.opset, "input_shape": list(x.shape),
                "onnx": os.path.abspath(args.out), "ops": R.op_types(mp), "argmax": int(order[0]),
                "class": int(order[1]), "logits": "torch float32 forward"}
        with open(os.path.join(args.ref, "meta.json"), "w") as f:
            json.dump(meta, f, indent=2)
            f.write("\n")
        print(f"{args.ref}: x.npy, logits.npy, meta.json (argmax {int(order[0])})")
    print(f"done in {time.time() - t0:.1f} s")


if __name__ == "__main__":
    main()
