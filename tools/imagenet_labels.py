#!/usr/bin/python3
"""Write the 1000 ImageNet class names, one per line (index = line number - 1),
from torchvision's offline metadata (VGG19_Weights.IMAGENET1K_V1.meta["categories"];
no download).

Run:  /usr/bin/python3 tools/imagenet_labels.py OUT.txt
"""
import argparse
import os

from torchvision.models import VGG19_Weights


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", help="output text file")
    args = ap.parse_args()
    cats = VGG19_Weights.IMAGENET1K_V1.meta["categories"]
    assert len(cats) == 1000
    assert all("\n" not in c for c in cats)
    tmp = args.out + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="\n") as f:
        for c in cats:
            f.write(c + "\n")
    os.replace(tmp, args.out)
    print(f"wrote {len(cats)} labels to {args.out}")


if __name__ == "__main__":
    main()
