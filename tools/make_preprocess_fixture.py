#!/usr/bin/python3
"""Write tests/data/preprocess/: a deterministic photo-like RGB PNG and the
torchvision ImageNet transform of it, for the C++ preprocessing tests.

Run:  /usr/bin/python3 tools/make_preprocess_fixture.py [--out tests/data/preprocess]
Needs python3-pil.  Deterministic and idempotent.
"""
import argparse
import json
import os
import sys

import numpy as np
import torch
from PIL import Image, ImageDraw
import torchvision
from torchvision import transforms as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradattr_fixtures import io  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
W, H = 300, 260
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def make_photo():
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float64)
    r = 0.5 + 0.4 * np.sin(xx / 37.0) * np.cos(yy / 53.0)
    g = 0.2 + 0.6 * (yy / H) + 0.1 * np.sin((xx + yy) / 19.0)
    b = 0.9 - 0.7 * (xx / W) + 0.05 * np.cos(xx / 7.0)
    img = np.stack([r, g, b], axis=-1)
    img += rng.normal(0.0, 0.03, img.shape)              # sensor-like noise
    im = Image.fromarray((np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    d.ellipse([40, 50, 140, 150], fill=(220, 40, 30))       # red disc
    d.rectangle([170, 30, 270, 110], fill=(20, 160, 60))    # green box
    d.polygon([(150, 240), (290, 160), (280, 250)], fill=(250, 230, 40))
    d.line([(0, 200), (300, 120)], fill=(10, 10, 10), width=3)
    # a little fine texture after the shapes (stresses the antialiased resize)
    a = np.asarray(im).astype(np.int16)
    a += rng.integers(-6, 7, a.shape, dtype=np.int16)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGB")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data", "preprocess"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(args.out, exist_ok=True)
    png = os.path.join(args.out, "photo.png")
    im = make_photo()
    tmp = png + ".tmp.png"
    im.save(tmp, format="PNG", optimize=False, compress_level=9)
    os.chmod(tmp, 0o644)
    os.replace(tmp, png)
    im = Image.open(png).convert("RGB")          # read back what the C++ reads
    assert im.size == (W, H)

    # 1) tensor path (the reference): uint8 -> float64 [0,1] -> antialiased
    #    bilinear resize of the float tensor (no intermediate rounding)
    t = T.ToTensor()(im).double()
    t = T.Resize(256, interpolation=T.InterpolationMode.BILINEAR, antialias=True)(t)
    resized_hw = tuple(t.shape[-2:])
    t = T.CenterCrop(224)(t)
    t = T.Normalize(MEAN, STD)(t)
    io.save_npy(os.path.join(args.out, "expected_imagenet.npy"), t[None].numpy(), np.float32)

    # 2) PIL path (torchvision's classic pipeline): PIL bilinear resize (always
    #    antialiased; result rounded to uint8), crop, ToTensor, Normalize
    p = T.Resize(256, interpolation=T.InterpolationMode.BILINEAR)(im)
    p = T.CenterCrop(224)(p)
    pt = T.Normalize(MEAN, STD)(T.ToTensor()(p).double())
    io.save_npy(os.path.join(args.out, "expected_imagenet_pil.npy"), pt[None].numpy(), np.float32)

    diff = float((t - pt).abs().max())
    h, w = resized_hw
    info = {"image": [H, W], "resized_hw": [h, w],
            "crop_top": int(round((h - 224) / 2.0)), "crop_left": int(round((w - 224) / 2.0)),
            "max_abs_diff_tensor_vs_pil": diff,
            "torch": torch.__version__, "torchvision": torchvision.__version__,
            "PIL": Image.__version__}
    with open(os.path.join(args.out, "summary.json"), "w") as f:
        json.dump(info, f, indent=1)
        f.write("\n")
    print(info)


if __name__ == "__main__":
    main()
