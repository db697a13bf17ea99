#!/usr/bin/python3
"""Reference values for include/gradattr/metrics/stats.hpp, from the textbook formulas in pure
Python (no scipy, no numpy), written without looking at the C++ code's arithmetic:

  - Wilcoxon signed-rank, two-sided, zeros dropped (Wilcoxon's convention), average ranks for
    ties. Exact p for n <= 25 nonzero differences without ties, by brute-force enumeration of
    all 2^n sign assignments (n <= 16) or by multiplying out the generating function
    prod_k (1 + x^k) with Python's exact integers (n <= 25). Otherwise the normal approximation:
    mean n(n+1)/4, variance n(n+1)(2n+1)/24 - sum(t^3 - t)/48, continuity correction 1/2.
  - Percentile bootstrap of a mean / a paired mean difference: a pure-Python MT19937-64
    (Matsumoto & Nishimura's reference algorithm; checked below against the C++ standard's
    required 10000th output 9981545732273789042 for the default seed 5489), index
    floor(u * n / 2^64), type-7 quantiles.
  - Holm-Bonferroni.

Writes tests/data/stats/stats_fixtures.json. Deterministic; run from the repository root:
  /usr/bin/python3 tools/make_stats_fixtures.py
"""
import itertools
import json
import math
import os
import random

MASK = (1 << 64) - 1


class MT19937_64:
    n, m = 312, 156

    def __init__(self, seed):
        self.mt = [0] * self.n
        self.mt[0] = seed & MASK
        for i in range(1, self.n):
            prev = self.mt[i - 1]
            self.mt[i] = (6364136223846793005 * (prev ^ (prev >> 62)) + i) & MASK
        self.index = self.n

    def twist(self):
        upper, lower = 0xFFFFFFFF80000000, 0x7FFFFFFF
        for i in range(self.n):
            x = (self.mt[i] & upper) | (self.mt[(i + 1) % self.n] & lower)
            xa = x >> 1
            if x & 1:
                xa ^= 0xB5026F5AA96619E9
            self.mt[i] = self.mt[(i + self.m) % self.n] ^ xa
        self.index = 0

    def __call__(self):
        if self.index >= self.n:
            self.twist()
        y = self.mt[self.index]
        self.index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        return y & MASK


def check_mt():
    g = MT19937_64(5489)
    for _ in range(9999):
        g()
    assert g() == 9981545732273789042, "MT19937-64 reference implementation is wrong"


def quantile7(s, q):
    h = q * (len(s) - 1)
    lo = math.floor(h)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (h - lo) * (s[hi] - s[lo])


def bootstrap(values, resamples, level, seed):
    n = len(values)
    g = MT19937_64(seed)
    means = []
    for _ in range(resamples):
        total = 0.0
        for _ in range(n):
            total += values[(g() * n) >> 64]
        means.append(total / n)
    means.sort()
    a = 1 - level
    return sum(values) / n, quantile7(means, a / 2), quantile7(means, 1 - a / 2)


def is_nan(v):
    return v is None or (isinstance(v, float) and math.isnan(v))


def wilcoxon(a, b):
    pairs = [(x, y) for x, y in zip(a, b) if not is_nan(x) and not is_nan(y)]
    dropped = len(a) - len(pairs)
    diffs = [x - y for x, y in pairs]
    zeros = sum(1 for d in diffs if d == 0)
    d = [v for v in diffs if v != 0]
    n = len(d)
    res = {"n": n, "zeros": zeros, "dropped": dropped}
    if n == 0:
        res.update(w_plus=0.0, w_minus=0.0, p=1.0, exact=False)
        return res
    # average ranks of |d|
    absd = sorted(abs(v) for v in d)
    rank_of = {}
    ties = []
    i = 0
    while i < n:
        j = i
        while j + 1 < n and absd[j + 1] == absd[i]:
            j += 1
        rank_of[absd[i]] = (i + 1 + j + 1) / 2.0
        ties.append(j - i + 1)
        i = j + 1
    w_plus = sum(rank_of[abs(v)] for v in d if v > 0)
    w_minus = sum(rank_of[abs(v)] for v in d if v < 0)
    has_ties = any(t > 1 for t in ties)
    res.update(w_plus=w_plus, w_minus=w_minus)
    if n <= 25 and not has_ties:
        w = round(w_plus)
        if n <= 16:  # every sign assignment
            sums = [sum(k for k, s in zip(range(1, n + 1), signs) if s) for signs in itertools.product((0, 1), repeat=n)]
            le = sum(1 for s in sums if s <= w)
            ge = sum(1 for s in sums if s >= w)
            total = len(sums)
        else:  # the generating function prod (1 + x^k), exact integers
            poly = [1]
            for k in range(1, n + 1):
                new = poly + [0] * k
                for s, c in enumerate(poly):
                    new[s + k] += c
                poly = new
            le = sum(poly[: w + 1])
            ge = sum(poly[w:])
            total = 2 ** n
        res.update(p=min(1.0, 2 * min(le, ge) / total), exact=True)
        return res
    mean = n * (n + 1) / 4
    var = n * (n + 1) * (2 * n + 1) / 24 - sum(t ** 3 - t for t in ties) / 48
    dev = max(abs(w_plus - mean) - 0.5, 0.0)
    z = dev / math.sqrt(var)
    res.update(p=min(1.0, math.erfc(z / math.sqrt(2))), exact=False, z=math.copysign(z, w_plus - mean))
    return res


def holm(ps):
    m = len(ps)
    order = sorted(range(m), key=lambda i: ps[i])
    out = [0.0] * m
    running = 0.0
    for k, i in enumerate(order):
        running = max(running, min(1.0, (m - k) * ps[i]))
        out[i] = running
    return out


def jsonable(v):
    return None if is_nan(v) else v


def main():
    check_mt()
    rng = random.Random(20261205)
    wcases = []

    def add_w(name, a, b, note=""):
        r = wilcoxon(a, b)
        wcases.append({"name": name, "note": note, "a": [jsonable(x) for x in a], "b": [jsonable(x) for x in b], "expected": r})

    darwin = [6, 8, 14, 16, 23, 24, 28, 29, 41, -48, 49, 56, 60, -67, 75]
    add_w("darwin_zea_mays", [float(v) for v in darwin], [0.0] * 15,
          "Fisher's Darwin data (n = 15, W- = 24): exact two-sided p = 2 * 676 / 32768 = 0.041259765625 (scipy.stats.wilcoxon docs)")
    add_w("five_positive", [1.0, 2.0, 3.0, 4.0, 5.0], [0.0] * 5, "n = 5 all positive: p = 2 / 32 = 0.0625")
    a = [rng.gauss(0.3, 1) for _ in range(20)]
    b = [rng.gauss(0, 1) for _ in range(20)]
    add_w("exact_n20", a, b, "n = 20, no ties: exact (generating function)")
    a = [rng.gauss(0.2, 1) for _ in range(24)]
    b = [rng.gauss(0, 1) for _ in range(24)]
    add_w("exact_n24", a, b, "n = 24, no ties: exact")
    a = [round(rng.gauss(0.4, 1), 1) for _ in range(40)]
    b = [round(rng.gauss(0, 1), 1) for _ in range(40)]
    a[3] = b[3]
    a[7] = b[7]
    add_w("ties_zeros_n40", a, b, "rounded values: ties and zeros, normal approximation")
    a = [rng.gauss(0.1, 1) for _ in range(300)]
    b = [x + rng.gauss(-0.05, 0.3) for x in a]
    add_w("normal_n300", a, b, "n = 300, normal approximation without ties")
    a = [rng.gauss(0, 1) for _ in range(30)]
    b = [rng.gauss(0, 1) for _ in range(30)]
    a[0] = float("nan")
    b[5] = float("nan")
    a[9] = float("nan")
    b[9] = float("nan")
    add_w("nan_pairs_n30", a, b, "3 pairs with a NaN dropped from both sides: n = 27, exact not allowed (n > 25)")
    a = [rng.gauss(0, 1) for _ in range(12)]
    b = list(a)
    b[2] += 0.5
    add_w("one_nonzero", a, b, "11 zero differences, one negative: exact, p = 1")
    a = [1.0, 2.0, 2.0, 3.0, -1.0, 4.0, -2.0, 5.0]
    add_w("small_ties", a, [0.0] * 8, "n = 8 with tied |d|: normal approximation (ties disable the exact path)")

    bcases = []

    def add_b(name, a, b, resamples, level, seed):
        if b is None:
            vals = [x for x in a if not is_nan(x)]
        else:
            vals = [x - y for x, y in zip(a, b) if not is_nan(x) and not is_nan(y)]
        est, lo, hi = bootstrap(vals, resamples, level, seed)
        bcases.append({"name": name, "a": [jsonable(x) for x in a], "b": None if b is None else [jsonable(x) for x in b],
                       "resamples": resamples, "level": level, "seed": seed,
                       "expected": {"estimate": est, "lo": lo, "hi": hi, "n": len(vals), "dropped": len(a) - len(vals)}})

    a = [rng.expovariate(1.0) for _ in range(50)]
    add_b("mean_n50", a, None, 2000, 0.95, 0x5EED)
    a = [rng.gauss(0.5, 0.2) for _ in range(37)]
    a[4] = float("nan")
    add_b("mean_nan_n37_level90_seed7", a, None, 1000, 0.90, 7)
    a = [rng.gauss(0.6, 0.1) for _ in range(60)]
    b = [x - rng.gauss(0.05, 0.05) for x in a]
    a[10] = float("nan")
    b[20] = float("nan")
    add_b("diff_n60_nan", a, b, 2000, 0.95, 0x5EED)

    hcases = []
    for m in (3, 6, 12):
        ps = [rng.random() ** 3 for _ in range(m)]
        hcases.append({"p": ps, "expected": holm(ps)})

    out = {"generator": "tools/make_stats_fixtures.py", "wilcoxon": wcases, "bootstrap": bcases, "holm": hcases}
    os.makedirs("tests/data/stats", exist_ok=True)
    with open("tests/data/stats/stats_fixtures.json", "w") as f:
        json.dump(out, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
