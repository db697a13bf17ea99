#!/usr/bin/python3
"""Train a small Vision Transformer on Fashion-MNIST with PyTorch and export it to ONNX, for the
report's E11 (docs/report.md: the shifted twin and the score-space comparison on a ViT).

Run:  /usr/bin/python3 tools/train_vit_fashion.py --out examples/data/vit_fashion.onnx
      [--epochs 6] [--seed 1] [--threads 1] [--data /usr/share/datasets/fashion-mnist] [--ref DIR]
      /usr/bin/python3 tools/train_vit_fashion.py --epochs 0 --out examples/data/vit_fashion_random.onnx

The model is torchvision's VisionTransformer (image_size=28, patch_size=7: 16 patch tokens on a
4x4 grid plus the class token; 3 layers, 4 heads, hidden 48, MLP 96, 10 classes), with the grey
[N, 1, 28, 28] input expanded to the three channels its patch convolution takes (an Expand node in
the graph), so the ONNX file takes the same [N, 1, 28, 28] images in [0, 1] as the shipped
Fashion VGG (no normalisation). --epochs 0 exports the seeded initialisation (random weights:
what is architectural only), with the head (which torchvision initialises with zeros) drawn
N(0, 1) and scaled so that the logits spread with std 2.

Training: AdamW (lr 2e-3, weight decay 0.05), cosine schedule over all steps, batch 128, seeded
shuffling; cross-entropy without label smoothing (so that, as for the VGG, many test images
saturate). Prints the t10k accuracy. Deterministic for a seed and thread count on one machine
(torch.use_deterministic_algorithms). ONNX: opset 17 (LayerNormalization), constant folding,
input "input", output "logits", a symbolic batch dimension, checked with onnx.checker. --ref DIR also writes DIR/x.npy (the
first 4 t10k images, float32 [4, 1, 28, 28]) and DIR/logits.npy (PyTorch's float32 logits of
them), which tests/onnx compares gradattr's forward of the file against.
"""
import argparse
import gzip
import os
import sys
import time

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from torchvision.models.vision_transformer import VisionTransformer


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = int.from_bytes(data[0:4], "big")
    ndim = magic & 0xFF
    dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


class GreyViT(torch.nn.Module):
    """[N, 1, 28, 28] in [0, 1] -> logits; the grey channel expanded to the ViT's three."""

    def __init__(self):
        super().__init__()
        self.vit = VisionTransformer(image_size=28, patch_size=7, num_layers=3, num_heads=4, hidden_dim=48,
                                     mlp_dim=96, num_classes=10, dropout=0.0, attention_dropout=0.0)

    def forward(self, x):
        return self.vit(x.expand(-1, 3, -1, -1))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
    ap.add_argument("--ref", default="")
    ap.add_argument("--train-limit", type=int, default=0, help="use only the first N training images (smoke runs)")
    a = ap.parse_args()
    if a.epochs < 0:
        sys.exit("train_vit_fashion.py: --epochs must be >= 0")
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    torch.use_deterministic_algorithms(True)
    for f in ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
              "t10k-labels-idx1-ubyte.gz"):
        if not os.path.isfile(os.path.join(a.data, f)):
            sys.exit(f"train_vit_fashion.py: {os.path.join(a.data, f)} not found (--data)")
    xtr = torch.from_numpy(read_idx(os.path.join(a.data, "train-images-idx3-ubyte.gz")).astype(np.float32) / 255.0)
    ytr = torch.from_numpy(read_idx(os.path.join(a.data, "train-labels-idx1-ubyte.gz")).astype(np.int64))
    xte = torch.from_numpy(read_idx(os.path.join(a.data, "t10k-images-idx3-ubyte.gz")).astype(np.float32) / 255.0)
    yte = torch.from_numpy(read_idx(os.path.join(a.data, "t10k-labels-idx1-ubyte.gz")).astype(np.int64))
    xtr, xte = xtr.unsqueeze(1), xte.unsqueeze(1)
    if a.train_limit > 0:
        xtr, ytr = xtr[:a.train_limit], ytr[:a.train_limit]

    model = GreyViT()
    if a.epochs == 0:
        # torchvision initialises the head with zeros: every logit 0, every gradient 0. The random
        # model gets a seeded N(0, 1) head scaled so that its logits spread with std 2 on the
        # first 256 training images (as tools/export_torchvision.py does for its models).
        with torch.no_grad():
            head = model.vit.heads.head
            head.weight.normal_(0.0, 1.0)
            head.bias.zero_()
            std = float(model(xtr[:256]).std())
            head.weight.mul_(2.0 / std)
    steps_per_epoch = (len(xtr) + a.batch - 1) // a.batch
    total = max(1, a.epochs * steps_per_epoch)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + np.cos(np.pi * min(s, total) / total)))
    gen = torch.Generator().manual_seed(a.seed)
    t0 = time.time()
    for epoch in range(a.epochs):
        model.train()
        perm = torch.randperm(len(xtr), generator=gen)
        loss_sum = 0.0
        for i in range(steps_per_epoch):
            idx = perm[i * a.batch:(i + 1) * a.batch]
            loss = F.cross_entropy(model(xtr[idx]), ytr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item()
        print(f"epoch {epoch + 1}/{a.epochs}: loss {loss_sum / steps_per_epoch:.4f} ({time.time() - t0:.0f} s)", flush=True)
    model.eval()
    with torch.no_grad():
        correct = sum(int((model(xte[i:i + 500]).argmax(1) == yte[i:i + 500]).sum()) for i in range(0, len(xte), 500))
    print(f"t10k accuracy: {correct / len(xte):.4f}")

    tmp = a.out + ".part"
    # A symbolic batch: a static export folds batch 1 into the attention's Reshape constants, and
    # gradattr runs batches through the head (Grad-CAM++'s class Jacobian, perturbation curves).
    torch.onnx.export(model, xte[:1], tmp, opset_version=17, do_constant_folding=True, input_names=["input"],
                      output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    m = onnx.load(tmp)
    onnx.checker.check_model(m)
    os.replace(tmp, a.out)
    if a.ref:
        os.makedirs(a.ref, exist_ok=True)
        with torch.no_grad():
            logits = model(xte[:4])
        np.save(os.path.join(a.ref, "x.npy"), xte[:4].numpy().astype(np.float32))
        np.save(os.path.join(a.ref, "logits.npy"), logits.numpy().astype(np.float32))
    print(f"wrote {a.out} ({os.path.getsize(a.out)} bytes)")


if __name__ == "__main__":
    main()
