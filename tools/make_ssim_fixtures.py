#!/usr/bin/python3
"""Reference values for include/gradattr/metrics/ssim.hpp, computed in pure Python (no numpy, no
scikit-image on this machine) straight from Wang et al. 2004 (and their ssim_index.m), written
without looking at the C++ code:

  - an 11x11 Gaussian window, sigma 1.5, normalised to sum 1, applied as one 2-D window (the C++
    code filters separably; this script does not);
  - weighted local mean, variance and covariance (population form), C1 = (0.01 L)^2,
    C2 = (0.03 L)^2;
  - the mean of the SSIM map over every window position fully inside the image ('valid').

The maps are deterministic (a small LCG and closed-form patterns), written into the fixture so
the C++ test reads exactly the values scored here.

Writes tests/data/ssim/ssim_fixtures.json. Deterministic; run from the repository root:
  /usr/bin/python3 tools/make_ssim_fixtures.py
"""
import json
import math
import os


def window(size=11, sigma=1.5):
    r = size // 2
    g = [[math.exp(-((i * i) + (j * j)) / (2 * sigma * sigma)) for j in range(-r, r + 1)] for i in range(-r, r + 1)]
    s = sum(sum(row) for row in g)
    return [[v / s for v in row] for row in g]


def ssim(a, b, L=1.0, size=11, sigma=1.5):
    H, W = len(a), len(a[0])
    g = window(size, sigma)
    r = size // 2
    C1, C2 = (0.01 * L) ** 2, (0.03 * L) ** 2
    vals = []
    for ci in range(r, H - r):
        for cj in range(r, W - r):
            ma = mb = 0.0
            for di in range(size):
                for dj in range(size):
                    w = g[di][dj]
                    ma += w * a[ci - r + di][cj - r + dj]
                    mb += w * b[ci - r + di][cj - r + dj]
            va = vb = cab = 0.0
            for di in range(size):
                for dj in range(size):
                    w = g[di][dj]
                    x = a[ci - r + di][cj - r + dj] - ma
                    y = b[ci - r + di][cj - r + dj] - mb
                    va += w * x * x
                    vb += w * y * y
                    cab += w * x * y
            vals.append((2 * ma * mb + C1) * (2 * cab + C2) / ((ma * ma + mb * mb + C1) * (va + vb + C2)))
    return sum(vals) / len(vals)


class Lcg:
    def __init__(self, seed):
        self.s = seed

    def next(self):
        self.s = (6364136223846793005 * self.s + 1442695040888963407) % (1 << 64)
        return (self.s >> 11) / float(1 << 53)


def noise(H, W, seed):
    g = Lcg(seed)
    return [[g.next() for _ in range(W)] for _ in range(H)]


def blob(H, W, cy, cx, s):
    return [[math.exp(-((i - cy) ** 2 + (j - cx) ** 2) / (2 * s * s)) for j in range(W)] for i in range(H)]


def main():
    cases = []
    H = W = 28
    n1, n2 = noise(H, W, 1), noise(H, W, 2)
    b1, b2 = blob(H, W, 12, 14, 4), blob(H, W, 16, 10, 5)
    mixed = [[0.7 * b1[i][j] + 0.3 * n1[i][j] for j in range(W)] for i in range(H)]
    cases.append(("identical noise", n1, n1, 1.0))
    cases.append(("two noises", n1, n2, 1.0))
    cases.append(("two blobs", b1, b2, 1.0))
    cases.append(("blob vs blob+noise", b1, mixed, 1.0))
    cases.append(("blob vs constant 0", b1, [[0.0] * W for _ in range(H)], 1.0))
    cases.append(("noise vs inverted noise", n1, [[1 - v for v in row] for row in n1], 1.0))
    n3, n4 = noise(13, 17, 3), noise(13, 17, 4)
    cases.append(("13x17 noises, L = 2", n3, [[2 * v for v in row] for row in n4], 2.0))
    out = {"generator": "tools/make_ssim_fixtures.py", "window": 11, "sigma": 1.5, "cases": []}
    for name, a, b, L in cases:
        a = [[round(v, 6) for v in row] for row in a]  # the fixture stores 6 decimals: score exactly those
        b = [[round(v, 6) for v in row] for row in b]
        out["cases"].append({"name": name, "H": len(a), "W": len(a[0]), "data_range": L,
                             "a": [v for row in a for v in row], "b": [v for row in b for v in row],
                             "ssim": ssim(a, b, L)})
    path = os.path.join("tests", "data", "ssim", "ssim_fixtures.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".part", "w") as f:
        json.dump(out, f)
        f.write("\n")
    os.replace(path + ".part", path)
    for c in out["cases"]:
        print("%-28s %.12f" % (c["name"], c["ssim"]))


if __name__ == "__main__":
    main()
