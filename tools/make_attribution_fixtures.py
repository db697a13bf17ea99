#!/usr/bin/python3
"""Write tests/data/attribution/: reference attribution maps on the tiny VGG
(tests/data/vgg_tiny) for every method x score space (pre, post, log),
implemented straight from METHODS.md s.2-s.4 in float64 PyTorch.

Run:  /usr/bin/python3 tools/make_attribution_fixtures.py [--out tests/data/attribution]
Conventions where METHODS.md leaves a choice are written in the README and in
manifest.json next to each file.  Deterministic and idempotent.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradattr_fixtures import io, tinyvgg as tv  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LAYER = tv.LAYER
EPS_DISPLAY = 1e-7          # display min-max normalisation (METHODS.md s.2)
EPS_SCORECAM = 1e-7         # Score-CAM mask normalisation, our default
EPS_SCORECAM_PGC = 1e-8     # pytorch-grad-cam's ScoreCAM
EPS_GRADCAMPP = 1e-6
EPS_XGRADCAM = 1e-7
SMOOTHGRAD_N = 4
SMOOTHGRAD_SIGMA_FRAC = 0.15
SMOOTHGRAD_SEED = 7


class Writer:
    def __init__(self, out):
        self.out = out
        self.manifest = {}

    def save(self, name, arr, dtype=np.float64, **info):
        if isinstance(arr, torch.Tensor):
            arr = arr.detach().cpu().numpy()
        a = io.save_npy(os.path.join(self.out, name), arr, dtype)
        entry = {"shape": list(a.shape), "dtype": str(a.dtype)}
        if "resolution" not in info and a.ndim == 3 and a.shape[1:] == (4, 4):
            info["resolution"] = "layer [N,H,W] = [2,4,4], signed, before ReLU"
        entry.update(info)
        self.manifest[name] = entry
        return a


def relu(t):
    return t.clamp_min(0)


# --- CAM weightings (A, g: [N,K,H,W]) -----------------------------------------

def w_gradcam(A, g):
    return g.mean(dim=(2, 3))


def w_gradcamplus(A, g):
    return relu(g).sum(dim=(2, 3))


def w_gradcampp(A, g):
    s = A.sum(dim=(2, 3), keepdim=True)
    g2 = g * g
    g3 = g2 * g
    alpha = g2 / (2 * g2 + s * g3 + EPS_GRADCAMPP)
    alpha = torch.where(g != 0, alpha, torch.zeros_like(alpha))
    return (alpha * relu(g)).sum(dim=(2, 3))


def w_gradcampp_paper_unscaled(A, g):
    """Original Grad-CAM++ (Chattopadhay et al. 2018; authors' code), with the
    explained score S of the policy playing the paper's Y^c and exp(S) the
    paper's final score:
        d1 = exp(S) g,  d2 = exp(S) g^2,  d3 = exp(S) g^3   (g = dS/dA)
        alpha = d2 / (2 d2 + s_k d3) = g^2 / (2 g^2 + s_k g^3)   (exp(S) cancels;
                no eps; alpha = 0 where the denominator is 0, i.e. where g = 0)
        c_k   = sum_ij alpha_kij over positions with g_kij > 0   (c_k = 1 if 0)
        w_k   = exp(S) * sum_ij (alpha_kij / c_k) ReLU(g_kij)
    Returned here WITHOUT the exp(S) factor (log space: the factor is applied
    once, at the end, as exp(S_n) times the map)."""
    s = A.sum(dim=(2, 3), keepdim=True)
    g2 = g * g
    den = 2 * g2 + s * g2 * g
    safe = torch.where(den != 0, den, torch.ones_like(den))
    alpha = torch.where(den != 0, g2 / safe, torch.zeros_like(g2))
    c = torch.where(g > 0, alpha, torch.zeros_like(alpha)).sum(dim=(2, 3), keepdim=True)
    c = torch.where(c != 0, c, torch.ones_like(c))
    return (alpha / c * relu(g)).sum(dim=(2, 3))


def w_xgradcam(A, g):
    return (g * A).sum(dim=(2, 3)) / (A.sum(dim=(2, 3)) + EPS_XGRADCAM)


def cam_from_weights(w, A):
    return (w[:, :, None, None] * A).sum(dim=1)


def display_map(raw, size):
    """ReLU -> bilinear upsample (half-pixel centres) -> (m-min)/(max-min+1e-7) per image."""
    m = relu(raw)[:, None]
    m = F.interpolate(m, size=size, mode="bilinear", align_corners=False)[:, 0]
    mn = m.amin(dim=(1, 2), keepdim=True)
    mx = m.amax(dim=(1, 2), keepdim=True)
    return (m - mn) / (mx - mn + EPS_DISPLAY)


# --- Score-CAM -------------------------------------------------------------------

def scorecam(model, x, A, classes, spaces, align_corners, eps):
    """Returns masks M [N,K,H,W] and scores {space: s [N,K]}."""
    N, K = A.shape[:2]
    M = F.interpolate(A, size=x.shape[-2:], mode="bilinear", align_corners=align_corners)
    mn = M.amin(dim=(2, 3), keepdim=True)
    mx = M.amax(dim=(2, 3), keepdim=True)
    M = (M - mn) / (mx - mn + eps)
    scores = {s: torch.empty(N, K, dtype=x.dtype) for s in spaces}
    with torch.no_grad():
        for n in range(N):
            masked = x[n][None] * M[n][:, None]           # [K,3,H,W]
            z = model(masked)
            c = classes[n].repeat(K)
            for s in spaces:
                scores[s][n] = tv.score_per_image(z, c, s)
    return M, scores


# --- paths ---------------------------------------------------------------------------

def path_points(x, x0, M):
    return [x0 + (m / M) * (x - x0) for m in range(M + 1)]


def rsi_gradcam(model, x, x0, classes, space, M):
    pts = path_points(x, x0, M)
    As, gs, Ss = [], [], []
    for xm in pts:
        A, g, _, S = tv.layer_act_and_grad(model, xm, classes, space)
        As.append(A); gs.append(g); Ss.append(S)
    G = torch.zeros_like(As[0])
    for m in range(1, M + 1):
        G += 0.5 * (gs[m - 1] + gs[m]) * (As[m] - As[m - 1])
    w = G.mean(dim=(2, 3))
    raw = cam_from_weights(w, As[M])
    return raw, w, G.sum(dim=(1, 2, 3)), Ss[M] - Ss[0]


def integrated_gradcam(model, x, x0, classes, space, M):
    pts = path_points(x, x0, M)
    total = None
    for m in range(M):                         # m = 0 .. M-1, plain sum
        A, g, _, _ = tv.layer_act_and_grad(model, pts[m], classes, space)
        cam = cam_from_weights(w_gradcam(A, g), A)
        total = cam if total is None else total + cam
    return total


def integrated_gradients(model, x, x0, classes, space, M):
    pts = path_points(x, x0, M)
    gs, Ss = [], []
    for xm in pts:
        g, _, S = tv.input_grad(model, xm, classes, space)
        gs.append(g); Ss.append(S)
    right = sum(gs[1:]) / M
    trap = sum(0.5 * (gs[m - 1] + gs[m]) for m in range(1, M + 1)) / M
    ig_r = (x - x0) * right
    ig_t = (x - x0) * trap
    dS = Ss[M] - Ss[0]
    return ig_r, ig_t, dS


def completeness(ig, dS):
    s = ig.sum(dim=(1, 2, 3))
    return torch.stack([s, dS, s - dS], dim=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data", "attribution"))
    args = ap.parse_args()
    tv.setup_determinism()
    W = Writer(args.out)
    os.makedirs(args.out, exist_ok=True)

    model, _ = tv.build_model()
    x = tv.make_inputs()
    x0 = torch.zeros_like(x)
    with torch.no_grad():
        z = model(x)
    top = tv.top_classes(z)
    y = torch.softmax(z, 1)
    yc = y.gather(1, top[:, None])[:, 0]
    # the model/input must be the committed ones
    ref = os.path.join(REPO, "tests", "data", "vgg_tiny", "logits.npy")
    if os.path.exists(ref):
        assert np.array_equal(np.load(ref), z.numpy()), "vgg_tiny fixtures are stale"
    HW = tuple(x.shape[-2:])
    cls = {"classes": "tests/data/vgg_tiny/classes.npy (top class per image)"}
    lay = {"layer": LAYER}
    inp = {"resolution": "input [N,3,64,64], signed",
           "note": "computed in float64, stored as float32 to keep the fixtures small"}

    summary = {"classes": top.tolist(), "y_c": yc.tolist(), "z_c": z.gather(1, top[:, None])[:, 0].tolist()}
    gcw = {}
    for s in tv.SCORES:
        A, g, _, S = tv.layer_act_and_grad(model, x, top, s)
        sp = {"score": s, **cls, **lay}

        w = w_gradcam(A, g)
        gcw[s] = w
        W.save(f"gradcam_weights_{s}.npy", w, method="gradcam", score=s, **cls, layer=LAYER,
               formula="w_k = (1/Z) sum_ij g_kij, g = dS/dA, Z = H*W = 16")
        W.save(f"gradcam_{s}.npy", cam_from_weights(w, A), method="gradcam", **sp,
               formula="sum_k w_k A_k, w_k = mean_ij g_kij")
        W.save(f"gradcamplus_{s}.npy", cam_from_weights(w_gradcamplus(A, g), A),
               method="gradcam+", **sp, formula="w_k = sum_ij ReLU(g_kij); sum_k w_k A_k")
        W.save(f"gradcampp_{s}.npy", cam_from_weights(w_gradcampp(A, g), A),
               method="gradcam++ (pytorch-grad-cam form)", **sp,
               formula="s_k = sum_ab A_kab; alpha = g^2/(2g^2 + s_k g^3 + 1e-6), alpha = 0 where g == 0; "
                       "w_k = sum_ij alpha ReLU(g); sum_k w_k A_k")
        unscaled = cam_from_weights(w_gradcampp_paper_unscaled(A, g), A)
        W.save(f"gradcampp_paper_unscaled_{s}.npy", unscaled,
               method="gradcam++ (original paper variant), without the exp(S) factor", **sp,
               formula="alpha = g^2/(2g^2 + s_k g^3) (0 where denominator == 0); "
                       "c_k = sum over {ij: g_kij > 0} of alpha_kij (1 if that is 0); "
                       "w_k = sum_ij (alpha_kij/c_k) ReLU(g_kij); map = sum_k w_k A_k")
        W.save(f"gradcampp_paper_{s}.npy", torch.exp(S)[:, None, None] * unscaled,
               method="gradcam++ (original paper variant)", **sp,
               formula="exp(S_n) * gradcampp_paper_unscaled_{s}, S_n = the policy's score "
                       "(pre: z_c, post: y_c, log: log y_c), exp applied once at the end (log space)")
        W.save(f"hirescam_{s}.npy", (g * A).sum(dim=1), method="hirescam", **sp,
               formula="sum_k g_k * A_k (elementwise)")
        W.save(f"xgradcam_{s}.npy", cam_from_weights(w_xgradcam(A, g), A), method="xgradcam", **sp,
               formula="w_k = sum_ij g_kij A_kij / (sum_ij A_kij + 1e-7); sum_k w_k A_k")
        W.save(f"layercam_{s}.npy", (relu(g) * A).sum(dim=1), method="layercam", **sp,
               formula="sum_k ReLU(g_k) * A_k")

        if s == "post":
            W.save("gradcam_display_post.npy", display_map(cam_from_weights(w, A), HW),
                   method="gradcam display map", score="post", **cls,
                   formula="ReLU(gradcam_post) -> F.interpolate(size 64x64, bilinear, "
                           "align_corners=False) -> (m - min)/(max - min + 1e-7) per image",
                   resolution="[N,64,64]")

        # input methods
        gx, _, _ = tv.input_grad(model, x, top, s)
        ispec = {"score": s, **cls, **inp}
        W.save(f"saliency_{s}.npy", gx, np.float32, method="saliency", **ispec, formula="dS/dx")
        W.save(f"inputxgrad_{s}.npy", x * gx, np.float32, method="input x gradient", **ispec,
               formula="x * dS/dx")

    # Score-CAM (masked forwards shared by the three score spaces)
    A, _, _, _ = tv.layer_act_and_grad(model, x, top, "pre")
    for tag, ac, eps in (("scorecam", False, EPS_SCORECAM), ("scorecam_pgc", True, EPS_SCORECAM_PGC)):
        _, sc = scorecam(model, x, A, top, tv.SCORES, ac, eps)
        up = (f"M_k = F.interpolate(A_k, size=(64,64), mode='bilinear', align_corners={ac}), "
              f"then (M - min)/(max - min + {eps:g}) per image and channel; "
              "s_k = S(x * M_k) (M_k broadcast over the 3 colour channels) under the policy, "
              "class = the image's top class at x")
        for s in tv.SCORES:
            sp = {"score": s, **cls, **lay}
            W.save(f"{tag}_scores_{s}.npy", sc[s], method=tag, **sp, formula="s_k [N,K]; " + up,
                   resolution="[N,K]")
            W.save(f"{tag}_{s}.npy", cam_from_weights(torch.softmax(sc[s], dim=1), A), method=tag, **sp,
                   formula="sum_k softmax_k(s_k) A_k; " + up)
            if tag == "scorecam":
                W.save(f"scorecam_raw_{s}.npy", cam_from_weights(sc[s], A), method="scorecam (raw weights)",
                       **sp, formula="sum_k s_k A_k; " + up)

    # path methods
    summary["completeness"] = {}
    for s in tv.SCORES:
        sp = {"score": s, **cls, **lay, "baseline": "zeros", }
        for M in (8, 50):
            raw, w, sumG, dS = rsi_gradcam(model, x, x0, top, s, M)
            f = ("x_m = x' + (m/M)(x - x'), m = 0..M, x' = 0; A_m, g_m at x_m (class fixed = top class at x); "
                 "G = sum_{m=1..M} 0.5 (g_{m-1} + g_m) * (A_m - A_{m-1}); w_k = mean_ij G_kij; map = sum_k w_k A_k(x)")
            W.save(f"rsi_gradcam_m{M}_{s}.npy", raw, method="rsi-gradcam", steps=M, **sp, formula=f)
            W.save(f"rsi_gradcam_m{M}_weights_{s}.npy", w, method="rsi-gradcam", steps=M, **sp,
                   formula="w_k = mean_ij G_kij", resolution="[N,K]")
            W.save(f"rsi_gradcam_m{M}_completeness_{s}.npy", torch.stack([sumG, dS], 1),
                   method="rsi-gradcam", steps=M, **sp, resolution="[N,2]",
                   formula="column 0: sum_kij G_kij; column 1: S(x) - S(x') per image")
            summary["completeness"][f"rsi_m{M}_{s}"] = {"sumG": sumG.tolist(), "dS": dS.tolist()}

            igc = integrated_gradcam(model, x, x0, top, s, M)
            W.save(f"integrated_gradcam_m{M}_{s}.npy", igc, method="integrated-gradcam", steps=M, **sp,
                   formula="sum_{m=0..M-1} gradcam_map(x_m) (plain sum, no 1/M), x_m as for RSI")

        ispec = {"score": s, **cls, **inp, "baseline": "zeros"}
        for M in (8, 50):
            ig_r, ig_t, dS = integrated_gradients(model, x, x0, top, s, M)
            variants = [("riemann", ig_r, "(x - x') * (1/M) sum_{m=1..M} dS(x_m)/dx")]
            if M == 8:
                variants.append(("trapezoid", ig_t,
                                 "(x - x') * (1/M) sum_{m=1..M} 0.5 (dS(x_{m-1})/dx + dS(x_m)/dx)"))
            for kind, ig, f in variants:
                W.save(f"ig_{kind}_m{M}_{s}.npy", ig, np.float32, method="integrated gradients",
                       steps=M, rule=kind, **ispec, formula=f + "; x_m = x' + (m/M)(x - x'), x' = 0")
                comp = completeness(ig, dS)
                W.save(f"ig_{kind}_m{M}_completeness_{s}.npy", comp, method="integrated gradients",
                       steps=M, rule=kind, score=s, resolution="[N,3]",
                       formula="columns: sum IG (from the float64 map), S(x) - S(x'), gap = sum IG - (S(x) - S(x'))")
                summary["completeness"][f"ig_{kind}_m{M}_{s}"] = {
                    "relgap": (comp[:, 2] / comp[:, 1].abs()).tolist()}

    # SmoothGrad with an explicit noise tensor
    lo = x.amin(dim=(1, 2, 3))
    hi = x.amax(dim=(1, 2, 3))
    sigma = SMOOTHGRAD_SIGMA_FRAC * (hi - lo)
    gen = torch.Generator().manual_seed(SMOOTHGRAD_SEED)
    noise = torch.randn(SMOOTHGRAD_N, *x.shape, generator=gen, dtype=torch.float64)
    noise = (noise * sigma[None, :, None, None, None]).float().double()   # float32 values
    W.save("smoothgrad_noise.npy", noise, np.float32, method="smoothgrad noise",
           resolution="[N_s=4, N=2, 3, 64, 64]",
           formula="eps_{s,n} = sigma_n * N(0,1) (torch.Generator seed 7), rounded to float32 values; "
                   "sigma_n = 0.15 (max_n x - min_n x) over the whole image n")
    W.save("smoothgrad_sigma.npy", sigma, method="smoothgrad sigma", resolution="[N]",
           formula="0.15 * (max - min) of each image")
    for s in tv.SCORES:
        acc = torch.zeros_like(x)
        for i in range(SMOOTHGRAD_N):
            gi, _, _ = tv.input_grad(model, x + noise[i], top, s)
            acc += gi
        W.save(f"smoothgrad_given_noise_{s}.npy", acc / SMOOTHGRAD_N, np.float32,
               method="smoothgrad with the given noise", score=s, **cls, **inp, samples=SMOOTHGRAD_N,
               formula="(1/N_s) sum_s dS(x + eps_s)/dx, eps = smoothgrad_noise.npy (float32 values, "
                       "added to x in float64), class fixed = top class of the clean x")

    # equivalent (shifted) model, METHODS.md s.4
    Z = A.shape[2] * A.shape[3]
    summary["equivalent"] = {}
    for K in (10.0, 1000.0):
        tag = f"equiv_k{int(K)}"

        def head(a, K=K):
            return tv.forward_from(model, a) + K * a[:, :, 0, 0].sum(dim=1, keepdim=True)

        with torch.no_grad():
            z2 = head(tv.forward_until(model, x))
        assert torch.equal(z2.argmax(1), top)
        W.save(f"{tag}_logits.npy", z2, method="shifted twin", K=K, layer=LAYER, resolution="[N,10]",
               formula="z' = z + K * sum_k A_{k,0,0} (A = features.35) added to every logit")
        for s in tv.SCORES:
            A2, g2, _, _ = tv.layer_act_and_grad(model, x, top, s, head=head)
            w2 = w_gradcam(A2, g2)
            sp = {"score": s, **cls, **lay, "K": K}
            W.save(f"{tag}_gradcam_weights_{s}.npy", w2, method="gradcam on the shifted twin", **sp,
                   resolution="[N,K]", formula="as gradcam_weights; expected: pre = original + K/Z (Z=16), "
                                               "post/log = original")
            W.save(f"{tag}_gradcam_{s}.npy", cam_from_weights(w2, A2), method="gradcam on the shifted twin",
                   **sp, formula="sum_k w'_k A_k")
            d = (w2 - gcw[s]).numpy()
            if s == "pre":
                err = float(np.abs(d - K / Z).max())
                assert err < 1e-9 * K, err
            else:
                err = float(np.abs(d).max() / np.abs(gcw[s].numpy()).max())
                assert err < 1e-9, err
            summary["equivalent"][f"{tag}_{s}"] = {"max_err_vs_expected": err}

    # sanity checks from METHODS.md on the references themselves
    def ld(n):
        return np.load(os.path.join(args.out, n))
    ycn = yc.numpy()
    for m in ("gradcam", "gradcamplus", "hirescam", "xgradcam", "layercam"):
        assert np.allclose(ld(f"{m}_post.npy"), ycn[:, None, None] * ld(f"{m}_log.npy"), rtol=1e-10, atol=1e-14), m
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump({"generator": "tools/make_attribution_fixtures.py",
                   "model": "tests/data/vgg_tiny (model_f64.safetensors, input_f64.npy)",
                   "common": {
                       "classes": top.tolist(), "y_c": yc.tolist(),
                       "layer": LAYER, "Z": Z,
                       "S": "sum over the batch of each image's own score; pre: z_c, post: softmax(z)_c, "
                            "log: log_softmax(z)_c; g = dS/dA at features.35, dS/dx for input methods",
                       "dtypes": "float64 unless the entry says float32"},
                   "files": W.manifest}, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)
        f.write("\n")
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
