#!/usr/bin/python3
"""Write tests/data/onnx/deit_narrow/: a narrow DeiT-style ViT (a class token AND a distillation
token before the patch tokens; Touvron et al. 2021) exported to ONNX at opset 17, with reference
logits, token-layer CAM maps and attention maps from PyTorch (never from gradattr).

Run:  /usr/bin/python3 tools/make_deit_fixtures.py [--out tests/data/onnx]

Model: torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2,
num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10) seeded as tools/make_vit_fixtures.py,
plus DeiT's inference layout written on top of it: a distillation token (seeded N(0, 0.02)) after
the class token, the position embedding widened to 2 + 16 tokens (seeded N(0, 0.02)), a second
head on the distillation token, logits = (head(h[:, 0]) + head_dist(h[:, 1])) / 2. timm is not
used (not a Debian package); this is its DeiT forward in eval mode. Exported with a dynamic batch.

References (float64 torch on the float32 weights, top class c):
  logits.npy                     z
  cams/<m>__<space>.npy          Grad-CAM / HiResCAM raw maps [1, 4, 4] at
                                 encoder.layers.encoder_layer_1.ln_1: pytorch-grad-cam's
                                 reshape_transform with BOTH prefix tokens dropped (t[:, 2:, :]),
                                 S = z_c (pre) / y_c (post)
  attention/rollout.npy          rollout, map = R[0, 2:] (the class token's row over the patches)
  attention/relevance__<space>.npy  Chefer et al.'s relevance, map = R[0, 2:], S per space
"""
import argparse
import copy
import os
import sys

import numpy as np
import onnx
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradattr_fixtures import onnxref as R  # noqa: E402
import make_onnx_fixtures as F  # noqa: E402
import make_vit_fixtures as V  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 23
PREFIX = 2  # class token, distillation token
SIDE = 4
CAM_LAYER = "encoder.layers.encoder_layer_1.ln_1"


class DeiTNarrow(torchvision.models.VisionTransformer):
    def __init__(self):
        super().__init__(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64,
                         num_classes=10)
        g = torch.Generator().manual_seed(2000 + SEED)
        self.dist_token = torch.nn.Parameter(0.02 * torch.randn(1, 1, 32, generator=g))
        self.encoder.pos_embedding = torch.nn.Parameter(0.02 * torch.randn(1, PREFIX + SIDE * SIDE, 32, generator=g))
        self.head_dist = torch.nn.Linear(32, 10)
        with torch.no_grad():
            for lin in (self.heads.head, self.head_dist):
                lin.weight.copy_(0.5 * torch.randn(lin.weight.shape, generator=g))
                lin.bias.copy_(0.1 * torch.randn(lin.bias.shape, generator=g))

    def tokens(self, x):
        n = x.shape[0]
        h = self._process_input(x)
        return torch.cat([self.class_token.expand(n, -1, -1), self.dist_token.expand(n, -1, -1), h], dim=1)

    def head_of(self, h):
        return (self.heads(h[:, 0]) + self.head_dist(h[:, 1])) / 2

    def forward(self, x):
        return self.head_of(self.encoder(self.tokens(x)))


def forward_with_attention(m, x):
    """m's forward written out from its modules' weights, keeping each block's attention
    probabilities [N, H, T, T] on the autograd graph (as make_vit_fixtures.forward_with_attention)."""
    n = x.shape[0]
    h = m.tokens(x) + m.encoder.pos_embedding
    attns = []
    for blk in m.encoder.layers:
        a = blk.self_attention
        H, D = a.num_heads, a.embed_dim
        d = D // H
        y = blk.ln_1(h)
        q, k, v = torch.nn.functional.linear(y, a.in_proj_weight, a.in_proj_bias).split(D, dim=-1)
        T = y.shape[1]
        q, k, v = (t.reshape(n, T, H, d).transpose(1, 2) for t in (q, k, v))
        A = torch.softmax(q @ k.transpose(-2, -1) / d ** 0.5, dim=-1)
        attns.append(A)
        h = h + a.out_proj((A @ v).transpose(1, 2).reshape(n, T, D))
        h = h + blk.mlp(blk.ln_2(h))
    return m.head_of(m.encoder.ln(h)), attns


def class_row(Rm):
    return Rm[0, PREFIX:].reshape(1, SIDE, SIDE)


def reshape_transform(t):
    r = t[:, PREFIX:, :].reshape(t.size(0), SIDE, SIDE, t.size(2))
    return r.transpose(2, 3).transpose(1, 2)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data", "onnx"))
    args = ap.parse_args()
    R.setup_determinism()
    torch.manual_seed(SEED)
    model = DeiTNarrow().eval()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(SEED))
    o = F.Out(args.out, "deit_narrow")
    data = V.export_bytes(model, x, 17)
    mp = onnx.load_from_string(data)
    F.check(mp)
    o.raw("model.onnx", data)
    ref = copy.deepcopy(model).double()
    x64 = x.double()
    with torch.no_grad():
        z = ref(x64)
        z_own, attns = forward_with_attention(ref, x64)
        err = float((z_own - z).abs().max())
        assert err < 1e-12, f"hand-written forward differs from the module's by {err}"
    c = int(torch.argmax(z[0]))
    o.npy("x.npy", x, np.float32, "input")
    o.npy("logits.npy", z, np.float32, "logits z (torch forward, float64 on the float32 weights)")
    for s in ("pre", "post"):
        act, g = R.cut_act_and_grads(ref, x64, CAM_LAYER, c, 0)
        A, G = reshape_transform(act), reshape_transform(g[s])
        o.npy(f"cams/gradcam__{s}.npy", (G.mean(dim=(2, 3))[:, :, None, None] * A).sum(dim=1), np.float32,
              f"Grad-CAM raw map at {CAM_LAYER}, both prefix tokens dropped, S = {F.SCORE_TEXT[s]}")
        o.npy(f"cams/hirescam__{s}.npy", (G * A).sum(dim=1), np.float32,
              f"HiResCAM raw map at {CAM_LAYER}, both prefix tokens dropped, S = {F.SCORE_TEXT[s]}")
    T = attns[0].shape[-1]
    eye = torch.eye(T, dtype=torch.float64)
    with torch.no_grad():
        Rm = eye.clone()
        for A in attns:
            Ah = 0.5 * A[0].mean(dim=0) + 0.5 * eye
            Rm = (Ah / Ah.sum(dim=-1, keepdim=True)) @ Rm
    o.npy("attention/rollout.npy", class_row(Rm), np.float32, "attention rollout, R[0, 2:] as [1, 4, 4]")
    for s in V.ATTN_SCORES:
        zz, attns = forward_with_attention(ref, x64)
        grads = torch.autograd.grad(V.attn_score(zz, c, s).sum(), attns)
        Rm = eye.clone()
        for A, G in zip(attns, grads):
            Rm = Rm + torch.relu(G[0] * A[0]).mean(dim=0) @ Rm
        o.npy(f"attention/relevance__{s}.npy", class_row(Rm.detach()), np.float32,
              f"Chefer attention relevance, R[0, 2:] as [1, 4, 4], S = {s}, class {c}")
    with torch.no_grad():
        z32 = model(x)
    o.meta({
        "model": "deit_narrow",
        "torch_class": "tools/make_deit_fixtures.py DeiTNarrow (torchvision VisionTransformer + distillation token)",
        "dtype": "float32", "opset": 17, "input_name": "input", "output_name": "logits",
        "input_shape": list(x.shape), "class": c, "prefix_tokens": PREFIX, "cam_layer": CAM_LAYER,
        "ops": F.model_info(mp)["ops"], "seed": SEED, "hand_forward_max_abs_diff": err,
        "torch_float32_max_rel_error": {"logits": F.rel(z32, z)},
    })


if __name__ == "__main__":
    main()
