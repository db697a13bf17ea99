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
    with torch.no_grad():
        z32 = model(x)
    meta = {
        "model": "vit_narrow",
        "torch_class": "torchvision.models.VisionTransformer(image_size=32, patch_size=8, num_layers=2, "
                       "num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10)",
        "dtype": "float32", "opset": 17, "input_name": "input", "output_name": "logits",
        "input_shape": list(x.shape), "class": c, "argmax": c,
        "ops": files["model.onnx"]["ops"], "cuts": cut_meta, "files": files, "seed": SEED,
        "torch_float32_max_rel_error": {"logits": F.rel(z32, z)},
    }
    o.meta(meta)


if __name__ == "__main__":
    main()
