#!/usr/bin/python3
"""Write tests/data/attribution/variants/: reference maps for the method variants and the
fourth score space of gradattr issue 13 (docs/methods.md s.1-s.3), on the tiny VGG of
tests/data/vgg_tiny, in float64 PyTorch, never from the C++ code.

Run:  /usr/bin/python3 tools/make_variant_fixtures.py [--out tests/data/attribution/variants]

What each file follows (conventions otherwise those of tools/make_attribution_fixtures.py,
whose functions are reused; README.md of the output directory lists every file):

* centered_* -- the score S = z_c - (1/n) sum_j z_j (tinyvgg.score_per_image) under the
  existing reference implementations: Grad-CAM (+ weights), Grad-CAM+, Grad-CAM++ (closed form),
  HiResCAM, XGrad-CAM, LayerCAM, Score-CAM (softmax), RSI Grad-CAM and Integrated Grad-CAM
  (signed) at M = 8, Saliency, Input x Gradient, IG (Riemann, M = 8).
* gradcampp_exact_{s} -- Grad-CAM++ (Chattopadhay et al. 2018, Eq. 19) with alpha from the exact
  derivatives of Y = exp(S): Y'' = Y (S'^2 + S''), Y''' = Y (S'^3 + 3 S' S'' + S'''),
  alpha = Y''/(2 Y'' + s_k Y'''), w_k = sum_ij alpha ReLU(S').  S', S'', S''' along every element
  u of A = features.35 are computed by autograd, independently of the cumulant formulas of
  docs/methods.md: a batch of copies A + t_u e_u (one per element), f_u(t_u) = S(head(.)), and
  three nested torch.autograd.grad calls with create_graph (rows do not interact, so the
  gradient of sum_u f_u^(k) with respect to t is each f_u^(k+1)).  No epsilon; alpha = 0 where
  the denominator is 0.
* scorecam_increase_{s} -- Score-CAM's channel weights as in the paper (Wang et al. 2020,
  Eq. 5-6, the "increase of confidence"): w_k = S(x * M_k) - S(x_b), x_b = 0 (every pixel
  masked), no softmax; masks as scorecam_* (half-pixel bilinear, eps 1e-7).
* integrated_gradcam_clamped_m8_{s} -- Integrated Grad-CAM as the authors' code
  (smstrzd/IntegratedGradCAM, Integrated_Grad_CAM.ipynb, as described in gradattr issue 13: the
  Grad-CAM map of each path step is clamped at 0 before the sum): sum_{m=0..M-1} ReLU(gradcam(x_m)).
  The notebook itself could not be read here; the clamp is the one the issue states.
* rsi_gradcam_relu_m8_{s}, rsi_gradcam_guided_m8_{s} -- RSI Grad-CAM's options in the authors'
  notebooks (mlerma54/RSIGradCAM, RSI_Grad_CAM*.ipynb, as described in gradattr issue 13):
  relu: ReLU(dS/dA) integrated at every path point; guided: the mask
  [A(x) > 0] [G > 0] [A(x) - A(x') > 0] applied to the integrated G, then w_k = mean_ij G_kij.
* saliency_display_maxabs_post -- Simonyan et al. 2014 s.3.1: max over channels of |dS/dx|,
  then the display (ReLU, bilinear 64x64, min-max with 1e-7), float32.
Deterministic and idempotent.
"""
import argparse
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradattr_fixtures import io, tinyvgg as tv  # noqa: E402
import make_attribution_fixtures as base  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPACES = ("pre", "post", "log", "centered")
M_PATH = 8


def relu(t):
    return t.clamp_min(0)


def exact_derivatives(model, A, classes, space):
    """S', S'', S''' of each image's score along every element of A (autograd, nested)."""
    N = A.shape[0]
    P = A[0].numel()
    d = [torch.zeros_like(A) for _ in range(3)]
    for n in range(N):
        t = torch.zeros(P, dtype=A.dtype, requires_grad=True)
        eye = torch.eye(P, dtype=A.dtype).reshape(P, *A.shape[1:])
        batch = A[n][None].expand(P, *A.shape[1:]) + t[:, None, None, None] * eye
        z = tv.forward_from(model, batch)
        f = tv.score_per_image(z, classes[n].repeat(P), space)
        (f1,) = torch.autograd.grad(f.sum(), t, create_graph=True)
        (f2,) = torch.autograd.grad(f1.sum(), t, create_graph=True)
        (f3,) = torch.autograd.grad(f2.sum(), t, allow_unused=True)
        if f3 is None:
            f3 = torch.zeros_like(t)
        for k, fk in enumerate((f1, f2, f3)):
            d[k][n] = fk.detach().reshape(A.shape[1:])
    return d


def w_gradcampp_exact(A, d1, d2, d3):
    s = A.sum(dim=(2, 3), keepdim=True)
    num = d1 * d1 + d2
    den = 2 * num + s * (d1 ** 3 + 3 * d1 * d2 + d3)
    safe = torch.where(den != 0, den, torch.ones_like(den))
    alpha = torch.where(den != 0, num / safe, torch.zeros_like(num))
    return (alpha * relu(d1)).sum(dim=(2, 3))


def rsi_variant(model, x, x0, classes, space, M, mode):
    pts = base.path_points(x, x0, M)
    As, gs = [], []
    for xm in pts:
        A, g, _, _ = tv.layer_act_and_grad(model, xm, classes, space)
        As.append(A)
        gs.append(relu(g) if mode == "relu" else g)
    G = torch.zeros_like(As[0])
    for m in range(1, M + 1):
        G += 0.5 * (gs[m - 1] + gs[m]) * (As[m] - As[m - 1])
    if mode == "guided":
        G = G * ((As[M] > 0) & (G > 0) & (As[M] - As[0] > 0)).to(G.dtype)
    return base.cam_from_weights(G.mean(dim=(2, 3)), As[M])


def integrated_gradcam_clamped(model, x, x0, classes, space, M):
    pts = base.path_points(x, x0, M)
    total = 0
    for m in range(M):
        A, g, _, _ = tv.layer_act_and_grad(model, pts[m], classes, space)
        total = total + relu(base.cam_from_weights(base.w_gradcam(A, g), A))
    return total


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data", "attribution", "variants"))
    args = ap.parse_args()
    tv.setup_determinism()
    os.makedirs(args.out, exist_ok=True)
    # The committed model and input (rebuilding the seeded model elsewhere may round its
    # calibration differently): the architecture from tinyvgg, the weights from the file.
    data = os.path.join(REPO, "tests", "data", "vgg_tiny")
    model, _ = tv.build_model()
    tensors = io.load_safetensors(os.path.join(data, "model_f64.safetensors"))
    if isinstance(tensors, tuple):
        tensors = tensors[0]
    model.load_state_dict({k: torch.from_numpy(np.asarray(v, dtype=np.float64)) for k, v in tensors.items()})
    x = torch.from_numpy(np.load(os.path.join(data, "input_f64.npy")))
    x0 = torch.zeros_like(x)
    with torch.no_grad():
        z = model(x)
    top = tv.top_classes(z)
    assert np.allclose(np.load(os.path.join(data, "logits.npy")), z.numpy(), rtol=0, atol=1e-12), "not the committed model"
    written = []

    def save(name, arr, dtype=np.float64):
        io.save_npy(os.path.join(args.out, name), arr.detach().cpu().numpy(), dtype)
        written.append(name)

    A, _, _, _ = tv.layer_act_and_grad(model, x, top, "pre")
    _, sc = base.scorecam(model, x, A, top, SPACES, False, base.EPS_SCORECAM)
    with torch.no_grad():
        z0 = model(x0)
    for s in SPACES:
        A, g, _, S = tv.layer_act_and_grad(model, x, top, s)
        d1, d2, d3 = exact_derivatives(model, A, top, s)
        assert torch.allclose(d1, g, rtol=1e-9, atol=1e-12 * g.abs().max()), s   # S' is the gradient
        if s in ("pre", "centered"):
            assert d2.abs().max() == 0 and d3.abs().max() == 0, s              # linear in z, z piecewise linear in A
        w = w_gradcampp_exact(A, d1, d2, d3)
        save(f"gradcampp_exact_weights_{s}.npy", w)
        save(f"gradcampp_exact_{s}.npy", base.cam_from_weights(w, A))
        save(f"scorecam_increase_{s}.npy",
             base.cam_from_weights(sc[s] - tv.score_per_image(z0, top, s)[:, None], A))
        save(f"integrated_gradcam_clamped_m{M_PATH}_{s}.npy", integrated_gradcam_clamped(model, x, x0, top, s, M_PATH))
        for mode in ("relu", "guided"):
            save(f"rsi_gradcam_{mode}_m{M_PATH}_{s}.npy", rsi_variant(model, x, x0, top, s, M_PATH, mode))

    s = "centered"
    A, g, _, S = tv.layer_act_and_grad(model, x, top, s)
    w = base.w_gradcam(A, g)
    save("centered_gradcam_weights.npy", w)
    save("centered_gradcam.npy", base.cam_from_weights(w, A))
    save("centered_gradcamplus.npy", base.cam_from_weights(base.w_gradcamplus(A, g), A))
    save("centered_gradcampp.npy", base.cam_from_weights(base.w_gradcampp(A, g), A))
    save("centered_hirescam.npy", (g * A).sum(dim=1))
    save("centered_xgradcam.npy", base.cam_from_weights(base.w_xgradcam(A, g), A))
    save("centered_layercam.npy", (relu(g) * A).sum(dim=1))
    save("centered_scorecam.npy", base.cam_from_weights(torch.softmax(sc[s], dim=1), A))
    raw, _, _, _ = base.rsi_gradcam(model, x, x0, top, s, M_PATH)
    save(f"centered_rsi_gradcam_m{M_PATH}.npy", raw)
    save(f"centered_integrated_gradcam_m{M_PATH}.npy", base.integrated_gradcam(model, x, x0, top, s, M_PATH))
    gx, _, _ = tv.input_grad(model, x, top, s)
    save("centered_saliency.npy", gx, np.float32)
    save("centered_inputxgrad.npy", x * gx, np.float32)
    ig_r, _, _ = base.integrated_gradients(model, x, x0, top, s, M_PATH)
    save(f"centered_ig_riemann_m{M_PATH}.npy", ig_r, np.float32)

    gpost, _, _ = tv.input_grad(model, x, top, "post")
    save("saliency_display_maxabs_post.npy", base.display_map(gpost.abs().amax(dim=1), tuple(x.shape[-2:])), np.float32)
    print("\n".join(sorted(written)))


if __name__ == "__main__":
    main()
