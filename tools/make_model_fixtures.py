#!/usr/bin/python3
"""Write tests/data/vgg_tiny/: the tiny VGG19-layout model, inputs, logits and
the reference gradients dS/dx and dS/dA (A = features.35) for the score spaces
Pre (z_c), Post (softmax(z)_c) and LogSoftmax (log_softmax(z)_c), METHODS.md s.1.

Run:  /usr/bin/python3 tools/make_model_fixtures.py [--out tests/data/vgg_tiny]
All reference computations are float64.  Deterministic and idempotent.
"""
import argparse
import copy
import json
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradattr_fixtures import io, tinyvgg as tv  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def kink_margins(model, x):
    """Smallest |pre-activation| of every ReLU and smallest (max - second max)
    of every max-pool window with a positive max, over both images.  Where
    these are ~1e-5, float32 rounding may flip a ReLU / pool choice and change
    gradients locally: compare float32 results with norm-relative tolerances."""
    import torch.nn as nn
    import torch.nn.functional as F
    res = {}
    h = x
    with torch.no_grad():
        for i, m in enumerate(model.features):
            if isinstance(m, nn.ReLU):
                res[f"features.{i} min|u|"] = float(h.abs().min())
            if isinstance(m, nn.MaxPool2d):
                p = F.unfold(h, 2, stride=2).view(h.shape[0], h.shape[1], 4, -1)
                srt = p.sort(dim=2, descending=True).values
                gap = (srt[:, :, 0] - srt[:, :, 1])[srt[:, :, 0] > 0]
                res[f"features.{i} min pool gap"] = float(gap.min())
            h = m(h)
        h = torch.flatten(model.avgpool(h), 1)
        for i, m in enumerate(model.classifier):
            if isinstance(m, nn.ReLU):
                res[f"classifier.{i} min|u|"] = float(h.abs().min())
            h = m(h)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data", "vgg_tiny"))
    args = ap.parse_args()
    tv.setup_determinism()
    out = args.out
    os.makedirs(out, exist_ok=True)

    model, final_scale = tv.build_model(verbose=True)
    x = tv.make_inputs()

    meta = {"format": "pt", "arch": "vgg19-layout, widths/16",
            "cfg": json.dumps(tv.CFG_E16), "classifier": "1568-64-64-10",
            "num_classes": "10", "seed": "torch.manual_seed(0)",
            "final_scale": str(final_scale)}
    io.save_safetensors(os.path.join(out, "model.safetensors"),
                        tv.state_dict_items(model, np.float32), meta)
    io.save_safetensors(os.path.join(out, "model_f64.safetensors"),
                        tv.state_dict_items(model, np.float64), meta)
    # self-check: the writer round-trips and F32 upcast == F64
    r32, _ = io.load_safetensors(os.path.join(out, "model.safetensors"))
    r64, _ = io.load_safetensors(os.path.join(out, "model_f64.safetensors"))
    for k, v in model.state_dict().items():
        assert np.array_equal(r32[k].astype(np.float64), v.numpy()), k
        assert np.array_equal(r64[k], v.numpy()), k

    io.save_npy(os.path.join(out, "input.npy"), x.numpy(), np.float32)
    io.save_npy(os.path.join(out, "input_f64.npy"), x.numpy(), np.float64)

    with torch.no_grad():
        z = model(x)
        a35 = tv.forward_until(model, x, 35)
        a36 = tv.forward_until(model, x, 36)
    assert tuple(a35.shape) == (2, 32, 4, 4) and tuple(a36.shape) == (2, 32, 2, 2)
    top = tv.top_classes(z)
    oth = tv.other_classes(z)
    y = torch.softmax(z, 1)
    io.save_npy(os.path.join(out, "logits.npy"), z.numpy())
    io.save_npy(os.path.join(out, "probs.npy"), y.numpy())
    io.save_npy(os.path.join(out, "classes.npy"), top.numpy(), np.int64)
    io.save_npy(os.path.join(out, "classes_other.npy"), oth.numpy(), np.int64)
    io.save_npy(os.path.join(out, "act_features35.npy"), a35.numpy())
    io.save_npy(os.path.join(out, "act_features36.npy"), a36.numpy())

    summary = {"final_scale": final_scale, "classes": top.tolist(),
               "classes_other": oth.tolist(), "scores": {}}
    for s in tv.SCORES:
        gx, z2, sv = tv.input_grad(model, x, top, s)
        assert torch.equal(z2, z)
        a, ga, _, sv2 = tv.layer_act_and_grad(model, x, top, s)
        assert torch.allclose(sv, sv2, rtol=1e-13, atol=0)
        io.save_npy(os.path.join(out, f"grad_input_{s}.npy"), gx.numpy())
        io.save_npy(os.path.join(out, f"grad_features35_{s}.npy"), ga.numpy())
        io.save_npy(os.path.join(out, f"score_{s}.npy"), sv.numpy())
        # out-of-argmax class
        _, _, svo = tv.input_grad(model, x, oth, s)
        _, gao, _, _ = tv.layer_act_and_grad(model, x, oth, s)
        io.save_npy(os.path.join(out, f"grad_features35_{s}_other.npy"), gao.numpy())
        io.save_npy(os.path.join(out, f"score_{s}_other.npy"), svo.numpy())
        summary["scores"][s] = sv.tolist()

    # identities from METHODS.md s.1, checked on the reference itself
    gpost = np.load(os.path.join(out, "grad_input_post.npy"))
    glog = np.load(os.path.join(out, "grad_input_log.npy"))
    yc = y.gather(1, top[:, None])[:, 0].numpy()
    assert np.allclose(gpost, yc[:, None, None, None] * glog, rtol=1e-10, atol=1e-15)

    print("logits:\n", np.array2string(z.numpy(), precision=4))
    print("top classes:", top.tolist(), " y_c:", yc.tolist())
    print("other classes:", oth.tolist())
    assert ((yc >= 0.3) & (yc <= 0.95)).all()
    summary["y_c"] = yc.tolist()
    summary["kink_margins"] = kink_margins(model, x)
    # what float32 arithmetic does here (PyTorch's own float32 CPU kernels),
    # as a guide for the C++ float32 tolerances: max|f32 - f64| / max|f64|
    m32 = copy.deepcopy(model).float()
    x32 = x.float()
    err = {}
    for s in tv.SCORES:
        gx32, _, _ = tv.input_grad(m32, x32, top, s)
        _, ga32, _, _ = tv.layer_act_and_grad(m32, x32, top, s)
        gx64 = np.load(os.path.join(out, f"grad_input_{s}.npy"))
        ga64 = np.load(os.path.join(out, f"grad_features35_{s}.npy"))
        err[f"grad_input_{s}"] = float(np.abs(gx32.double().numpy() - gx64).max() / np.abs(gx64).max())
        err[f"grad_features35_{s}"] = float(np.abs(ga32.double().numpy() - ga64).max() / np.abs(ga64).max())
    with torch.no_grad():
        z32 = m32(x32).double().numpy()
    err["logits"] = float(np.abs(z32 - z.numpy()).max())
    summary["torch_float32_max_rel_error"] = err
    print("torch float32 vs float64:", err)
    summary["z_c"] = z.gather(1, top[:, None])[:, 0].tolist()
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)
        f.write("\n")


if __name__ == "__main__":
    main()
