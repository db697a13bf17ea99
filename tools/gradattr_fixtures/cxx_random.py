"""The C++ standard library's random numbers as gradattr draws them, in numpy, bit for bit.

SmoothGrad's noise (include/gradattr/attribution/input_methods.hpp): for sample s,
    std::seed_seq seq{uint32(seed), uint32(seed >> 32), uint32(s)};
    std::mt19937_64 rng(seq);
    std::normal_distribution<double> normal(0.0, 1.0);
    e_i = normal(rng) for i = 0 .. P-1   (P = C*H*W, one draw shared by the images of a batch)
    x_noisy[n, i] = x[n, i] + T(sigma_n * e_i),  sigma_n = 0.15 * (max x_n - min x_n) in double

Written from the C++ standard ([rand.util.seedseq], [rand.eng.mers]) and from libstdc++'s
(GCC 12) generate_canonical and normal_distribution (Marsaglia's polar method: each
accepted pair (x, y) returns y*mult first and keeps x*mult for the next call). The
uint64 -> double conversion and the log / sqrt are the same IEEE operations as in the
C++ (numpy's log on float64 calls the platform libm, glibc; sqrt is exact). A C++ build that
contracts x*x + y*y into an FMA could differ in the last bit of r2; after the cast of
sigma*e to float that changes nothing but in astronomically rare cases.
"""
import math

import numpy as np

_M32 = 0xFFFFFFFF
_M64 = (1 << 64) - 1

# std::mt19937_64
_N, _M, _R = 312, 156, 31
_A = np.uint64(0xB5026F5AA96619E9)
_U, _D = np.uint64(29), np.uint64(0x5555555555555555)
_S, _B = np.uint64(17), np.uint64(0x71D67FFFEDA60000)
_T, _C = np.uint64(37), np.uint64(0xFFF7EEE000000000)
_L = np.uint64(43)
_UPPER = np.uint64((_M64 << _R) & _M64)
_LOWER = np.uint64(~int(_UPPER) & _M64)


def seed_seq_generate(v, n):
    """std::seed_seq{v...}.generate() of n 32-bit words ([rand.util.seedseq])."""
    s = len(v)
    b = [0x8B8B8B8B] * n
    t = 11 if n >= 623 else 7 if n >= 68 else 5 if n >= 39 else 3 if n >= 7 else (n - 1) // 2
    p = (n - t) // 2
    q = p + t
    m = max(s + 1, n)

    def T(x):
        return x ^ (x >> 27)

    for k in range(m):
        r1 = (1664525 * T(b[k % n] ^ b[(k + p) % n] ^ b[(k - 1) % n])) & _M32
        if k == 0:
            r2 = r1 + s
        elif k <= s:
            r2 = r1 + k % n + (v[k - 1] & _M32)
        else:
            r2 = r1 + k % n
        r2 &= _M32
        b[(k + p) % n] = (b[(k + p) % n] + r1) & _M32
        b[(k + q) % n] = (b[(k + q) % n] + r2) & _M32
        b[k % n] = r2
    for k in range(m, m + n):
        r3 = (1566083941 * T((b[k % n] + b[(k + p) % n] + b[(k - 1) % n]) & _M32)) & _M32
        r4 = (r3 - k % n) & _M32
        b[(k + p) % n] ^= r3
        b[(k + q) % n] ^= r4
        b[k % n] = r4
    return b


class MT19937_64:
    """std::mt19937_64 seeded by a std::seed_seq of 32-bit values; draw(k) returns k outputs."""

    def __init__(self, seed_words):
        w = seed_seq_generate(list(seed_words), 2 * _N)
        x = [(w[2 * i] | (w[2 * i + 1] << 32)) & _M64 for i in range(_N)]
        if (x[0] & int(_UPPER)) == 0 and all(v == 0 for v in x[1:]):
            x[0] = 1 << 63
        self.x = np.array(x, dtype=np.uint64)
        self.p = _N

    def _twist(self):
        x = self.x
        one = np.uint64(1)
        k1 = np.arange(0, _N - _M)
        y = (x[k1] & _UPPER) | (x[k1 + 1] & _LOWER)
        x[k1] = x[k1 + _M] ^ (y >> one) ^ np.where((y & one) != 0, _A, np.uint64(0))
        k2 = np.arange(_N - _M, _N - 1)
        y = (x[k2] & _UPPER) | (x[k2 + 1] & _LOWER)
        x[k2] = x[k2 + _M - _N] ^ (y >> one) ^ np.where((y & one) != 0, _A, np.uint64(0))
        y = (x[_N - 1] & _UPPER) | (x[0] & _LOWER)
        x[_N - 1] = x[_M - 1] ^ (y >> one) ^ (_A if int(y) & 1 else np.uint64(0))
        self.p = 0

    def draw(self, k):
        out = []
        while k > 0:
            if self.p >= _N:
                self._twist()
            take = min(k, _N - self.p)
            z = self.x[self.p:self.p + take].copy()
            self.p += take
            k -= take
            z ^= (z >> _U) & _D
            z ^= (z << _S) & _B
            z ^= (z << _T) & _C
            z ^= z >> _L
            out.append(z)
        return np.concatenate(out) if out else np.zeros(0, np.uint64)


def canonical(u):
    """libstdc++ generate_canonical<double, 53> on a 64-bit engine: double(u) / 2^64, < 1."""
    r = u.astype(np.float64) * (2.0 ** -64)
    return np.where(r >= 1.0, np.nextafter(1.0, 0.0), r)


def normals(rng, count):
    """count draws of libstdc++'s std::normal_distribution<double>(0, 1) from rng (fresh)."""
    out = np.empty(count, dtype=np.float64)
    i = 0
    buf = canonical(rng.draw(2 * count + 64))
    j = 0
    while i < count:
        if j + 2 > buf.size:
            buf = canonical(rng.draw(2 * (count - i) + 64))
            j = 0
        x = 2.0 * buf[j] - 1.0
        y = 2.0 * buf[j + 1] - 1.0
        j += 2
        r2 = x * x + y * y
        if r2 > 1.0 or r2 == 0.0:
            continue
        mult = math.sqrt(-2.0 * math.log(r2) / r2)
        out[i] = y * mult
        i += 1
        if i < count:
            out[i] = x * mult
            i += 1
    return out


def smoothgrad_unit_noise(seed, sample, count):
    """e_s of gradattr's SmoothGrad: `count` N(0,1) values for sample index `sample`."""
    seed = int(seed)
    rng = MT19937_64([seed & _M32, (seed >> 32) & _M32, int(sample) & _M32])
    return normals(rng, count)


def _self_test():
    # The standard's required value ([rand.predef]): the 10000th output of a default-seeded
    # std::mt19937_64 (seed 5489, no seed_seq) is 9981545732273789042.
    g = MT19937_64.__new__(MT19937_64)
    x = [5489]
    for i in range(1, _N):
        x.append((6364136223846793005 * (x[-1] ^ (x[-1] >> 62)) + i) & _M64)
    g.x = np.array(x, dtype=np.uint64)
    g.p = _N
    assert int(g.draw(10000)[-1]) == 9981545732273789042


_self_test()
