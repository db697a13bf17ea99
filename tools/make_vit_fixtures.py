#!/usr/bin/python3
"""Write tests/data/onnx/vit_narrow/: a narrow seeded torchvision VisionTransformer exported
to ONNX at opset 17 (LayerNormalization) and opset 13 (LayerNorm decomposed into
ReduceMean/Sub/Pow/Sqrt/Div), with reference logits and gradients from PyTorch, in the layout
of tools/make_onnx_fixtures.py (tests/onnx's check_model reads both).

Run:  /usr/bin/python3 tools/make_vit_fixtures.py [--out tests/data/onnx]

Model: torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2,
num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10), torch.manual_seed(21), eval mode;
the head (zero-initialised by torchvision) gets seeded N(0, 0.5) weights so that the logits
and gradients are not trivial. Exported with
  torch.onnx.export(m, x, f, opset_version=17 / 13, do_constant_folding=True,
                    input_names=["input"], output_names=["logits"],
                    dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
(a static export folds the batch 1 into the patch embedding's Reshape).
References: the torch forward/backward in float64 on the float32 weights, for the top class
(the argmax): dS/dx and, at two cuts (forward hooks replacing the module output by a leaf, so
every value not computed from it is held fixed), the activation and dS/dA, S in z_c, y_c,
log y_c. Deterministic: rerunning gives identical bytes.

CAM maps on the token layer (cams/): pytorch-grad-cam's recipe for a ViT, written out here:
its reshape_transform (drop the class token, fold the N = 16 patch tokens into the 4x4 grid,
hidden units as channels) applied to the activation and to the gradient taken by the hook at
encoder.layers.encoder_layer_1.ln_1, then Grad-CAM (sum_k mean_ij(g_k) A_k) and HiResCAM
(sum_k g_k A_k), raw (signed, before the ReLU) [1, 4, 4], for S = z_c (pre) and y_c (post).

Attention maps (attention/, docs/methods.md "Attention methods"), from the formulas on the
torch model, never gradattr: the encoder is re-run by hand from the modules' weights (ln_1,
in_proj, q k^T / sqrt(d_head), softmax, @ v, out_proj, residual, ln_2, mlp, residual), keeping
each block's attention probabilities A_l [1, H, T, T] (T = 17); its logits are checked against
the module forward to 1e-12. For the argmax class c:
  rollout.npy                  Abnar & Zuidema 2020: R = prod_l (0.5 mean_h A_l + 0.5 I), rows
                               renormalised, map = R[0, 1:] folded into the 4x4 grid [1, 4, 4]
  relevance__<space>.npy       Chefer, Gur & Wolf 2021: R = I; R += mean_h ReLU(dS/dA_l * A_l) R
                               for l = 1..L; map = R[0, 1:] as [1, 4, 4]; dS/dA_l by autograd, S
                               = z_c (pre), y_c (post), log y_c (log), z_c - mean_k z_k (centered)
  relevance_shifted__<space>.npy  the same on the shifted twin z' = z + K t(x) 1 with K = 10 and
                               t = sum_d h[:, 0, d], h = the output of encoder.layers.encoder_layer_0
                               (models::Shifted on a token layer: the class token's channel sum)
"""
import argparse
import copy
import io
import os
import sys
import warnings

import numpy as np
import onnx
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradattr_fixtures import onnxref as R  # noqa: E402
import make_onnx_fixtures as F  # noqa: E402  (Out, dumps, rel, model_info, check)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SEED = 21
CUTS = [("encoder.layers.encoder_layer_1.ln_1", 0,
         "LayerNorm before the last block's attention (pytorch-grad-cam's ViT layer); the block "
         "input crosses the cut through the residual add"),
        ("encoder.layers.encoder_layer_0", 0, "output of the first encoder block")]


def build():
    torch.manual_seed(SEED)
    m = torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=2,
                                             hidden_dim=32, mlp_dim=64, num_classes=10)
    g = torch.Generator().manual_seed(1000 + SEED)
    with torch.no_grad():
        m.heads.head.weight.copy_(0.5 * torch.randn(m.heads.head.weight.shape, generator=g))
        m.heads.head.bias.copy_(0.1 * torch.randn(m.heads.head.bias.shape, generator=g))
    return m.eval()


def export_bytes(model, x, opset):
    """As onnxref.export_bytes, with the batch dimension dynamic: a ViT exported with a static
    input shape has the batch 1 folded into the patch embedding's Reshape target (torch's
    `x.reshape(n, hidden, -1)` with n = x.shape[0] a constant), so the file takes one image only."""
    f = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, f, opset_version=opset, do_constant_folding=True, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    return f.getvalue()


def reshape_transform(t, side=4):
    """pytorch-grad-cam's ViT reshape_transform: [N, 1 + side^2, D] -> [N, D, side, side]."""
    r = t[:, 1:, :].reshape(t.size(0), side, side, t.size(2))
    return r.transpose(2, 3).transpose(1, 2)


ATTN_SCORES = ("pre", "post", "log", "centered")
SHIFT_K = 10.0
SHIFT_LAYER = "encoder.layers.encoder_layer_0"


def attn_score(z, c, space):
    if space == "centered":
        return z[:, c] - z.mean(dim=1)
    return R.score(z, c, space)


def forward_with_attention(m, x, shift_k=0.0):
    """The VisionTransformer forward written out from its modules' weights (torchvision 0.14's
    EncoderBlock and nn.MultiheadAttention in eval mode), returning (logits, [A_l]) with each
    A_l [N, H, T, T] a node of the autograd graph. shift_k: the logits get shift_k * the class
    token's channel sum after encoder_layer_0 added to every class (the shifted twin)."""
    n = x.shape[0]
    h = m._process_input(x)
    h = torch.cat([m.class_token.expand(n, -1, -1), h], dim=1)
    h = h + m.encoder.pos_embedding
    attns, shift = [], None
    for i, blk in enumerate(m.encoder.layers):
        a = blk.self_attention
        H, D = a.num_heads, a.embed_dim
        d = D // H
        y = blk.ln_1(h)
        qkv = torch.nn.functional.linear(y, a.in_proj_weight, a.in_proj_bias)
        q, k, v = qkv.split(D, dim=-1)
        T = y.shape[1]
        q, k, v = (t.reshape(n, T, H, d).transpose(1, 2) for t in (q, k, v))
        A = torch.softmax(q @ k.transpose(-2, -1) / d ** 0.5, dim=-1)
        attns.append(A)
        o = (A @ v).transpose(1, 2).reshape(n, T, D)
        o = a.out_proj(o)
        h = h + o
        h = h + blk.mlp(blk.ln_2(h))
        if i == 0:
            shift = h[:, 0, :].sum(dim=1)
    h = m.encoder.ln(h)
    z = m.heads(h[:, 0])
    if shift_k:
        z = z + shift_k * shift[:, None]
    return z, attns


def rollout_map(attns, side=4):
    T = attns[0].shape[-1]
    eye = torch.eye(T, dtype=attns[0].dtype)
    R = eye.clone()
    for A in attns:
        Ah = 0.5 * A[0].mean(dim=0) + 0.5 * eye
        Ah = Ah / Ah.sum(dim=-1, keepdim=True)
        R = Ah @ R
    return R[0, 1:].reshape(1, side, side)


def relevance_map(attns, grads, side=4):
    T = attns[0].shape[-1]
    R = torch.eye(T, dtype=attns[0].dtype)
    for A, G in zip(attns, grads):
        Ab = torch.relu(G[0] * A[0]).mean(dim=0)
        R = R + Ab @ R
    return R[0, 1:].reshape(1, side, side)


def attention_references(o, ref, x64, c):
    with torch.no_grad():
        z_mod = ref(x64)
        z_own, attns = forward_with_attention(ref, x64)
        err = float((z_own - z_mod).abs().max())
        assert err < 1e-12, f"hand-written forward differs from the module's by {err}"
        ro = rollout_map(attns)
    o.npy("attention/rollout.npy", ro, np.float32, "attention rollout map [1, 4, 4] (class-independent)")
    for shift_k, stem in ((0.0, "relevance"), (SHIFT_K, "relevance_shifted")):
        for s in ATTN_SCORES:
            z, attns = forward_with_attention(ref, x64, shift_k)
            grads = torch.autograd.grad(attn_score(z, c, s).sum(), attns)
            what = f"Chefer attention relevance map [1, 4, 4], S = {s}, class {c}"
            if shift_k:
                what += f", on the twin z + {shift_k} * sum_d h0[:, 0, d] (h0 = {SHIFT_LAYER})"
            o.npy(f"attention/{stem}__{s}.npy", relevance_map(attns, grads), np.float32, what)
    return {"hand_forward_max_abs_diff": err, "shift_k": SHIFT_K, "shift_layer": SHIFT_LAYER,
            "scores": list(ATTN_SCORES)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data", "onnx"))
    args = ap.parse_args()
    R.setup_determinism()
    model = build()
    x = torch.randn(1, 3, 32, 32, generator=torch.Generator().manual_seed(SEED))
    o = F.Out(args.out, "vit_narrow")
    files, mps = {}, {}
    for k, opset in enumerate((17, 13)):
        fname = "model.onnx" if k == 0 else f"model_opset{opset}.onnx"
        data = export_bytes(model, x, opset)
        mp = onnx.load_from_string(data)
        F.check(mp)
        o.raw(fname, data)
        mps[opset] = mp
        files[fname] = dict(opset=opset, bytes=len(data), **F.model_info(mp),
                            cuts=[{"module": m, "value": R.value_of(mp, m, k)[0]} for m, k, _ in CUTS])
    ref = copy.deepcopy(model).double()
    x64 = x.double()
    with torch.no_grad():
        z = ref(x64)
    c = int(torch.argmax(z[0]))
    gx = R.input_grads(ref, x64, c)
    o.npy("x.npy", x, np.float32, "input")
    o.npy("logits.npy", z, np.float32, "logits z (torch forward, float64 on the float32 weights)")
    for s in R.SCORES:
        o.npy(f"grad_input_{s}.npy", gx[s], np.float32, f"dS/dx, S = {F.SCORE_TEXT[s]}")
    cut_meta = []
    for i, (mod, call, why) in enumerate(CUTS):
        act, g = R.cut_act_and_grads(ref, x64, mod, c, call)
        value, node = R.value_of(mps[17], mod, call)
        cut_meta.append({"module": mod, "value": value, "shape": list(act.shape), "node": node, "why": why})
        o.npy(f"act_{i}.npy", act, np.float32, f"output of {mod} = ONNX value {value}")
        for s in R.SCORES:
            o.npy(f"grad_{i}_{s}.npy", g[s], np.float32, f"dS/d act_{i}, S = {F.SCORE_TEXT[s]}")
    for s in ("pre", "post"):
        act, g = R.cut_act_and_grads(ref, x64, CUTS[0][0], c, 0)
        A, G = reshape_transform(act), reshape_transform(g[s])
        gradcam = (G.mean(dim=(2, 3))[:, :, None, None] * A).sum(dim=1)
        hirescam = (G * A).sum(dim=1)
        o.npy(f"cams/gradcam__{s}.npy", gradcam, np.float32, f"Grad-CAM raw map at {CUTS[0][0]}, S = {F.SCORE_TEXT[s]}")
        o.npy(f"cams/hirescam__{s}.npy", hirescam, np.float32, f"HiResCAM raw map at {CUTS[0][0]}, S = {F.SCORE_TEXT[s]}")
    attention_meta = attention_references(o, ref, x64, c)
    with torch.no_grad():
        z32 = model(x)
    meta = {
        "model": "vit_narrow",
        "torch_class": "torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, "
                       "num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10)",
        "dtype": "float32", "opset": 17, "input_name": "input", "output_name": "logits",
        "input_shape": list(x.shape), "class": c, "argmax": c,
        "ops": files["model.onnx"]["ops"], "cuts": cut_meta, "files": files, "seed": SEED,
        "torch_float32_max_rel_error": {"logits": F.rel(z32, z)}, "attention": attention_meta,
    }
    o.meta(meta)


if __name__ == "__main__":
    main()
