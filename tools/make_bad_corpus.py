#!/usr/bin/env python3
"""Generates tests/data/bad/: malformed (and valid-but-unusual) safetensors, NPY, image and IDX
files, with tests/data/bad/manifest.json listing for each file the loader to run, the expected
outcome ("FormatError", "IoError", or "ok") and a substring of the expected message.
tests/io/bad_corpus.cpp runs every entry through gradattr.

Plain Python 3 (struct, zlib, json): no numpy, no PIL. The JPEGs are written by a tiny
baseline encoder below (flat 8x8 blocks, DC coefficients only, hand-made Huffman tables).
Deterministic: running it twice gives the same bytes.

Usage: python3 tools/make_bad_corpus.py [output_dir]   (default: tests/data/bad next to this script)
"""
import json
import os
import struct
import sys
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "tests", "data", "bad")
entries = []


def add(rel, data, loader, expect, message="", **extra):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    e = {"file": rel, "loader": loader, "expect": expect, "message": message}
    e.update(extra)
    entries.append(e)


# ---------------------------------------------------------------- safetensors
def st(header, data=b"", pad=False):
    h = header if isinstance(header, bytes) else json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def t(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


F32x1 = struct.pack("<f", 1.5)
F32x2 = struct.pack("<2f", 1.5, -2.0)

S = "safetensors"
add("safetensors/short_file.safetensors", b"\x05\x00\x00", S, "FormatError", "shorter than the 8-byte")
add("safetensors/header_len_zero.safetensors", struct.pack("<Q", 0), S, "FormatError", "below the minimum")
add("safetensors/header_len_huge.safetensors", struct.pack("<Q", 200_000_000) + b"{}", S, "FormatError", "exceeds the limit")
add("safetensors/header_len_past_eof.safetensors", struct.pack("<Q", 100) + b"{}", S, "FormatError", "past the end")
add("safetensors/header_len_near_2_64.safetensors", struct.pack("<Q", 2**64 - 5) + b"{}", S, "FormatError", "exceeds the limit")
add("safetensors/not_utf8.safetensors", st(b'{"a\xc3\x28":1}'), S, "FormatError", "not valid UTF-8")
add("safetensors/overlong_utf8.safetensors", st(b'{"\xc0\xaf":1}'), S, "FormatError", "not valid UTF-8")
add("safetensors/not_json.safetensors", st(b"{not json}"), S, "FormatError", "not valid JSON")
add("safetensors/deep_nesting.safetensors", st(b"[" * 5000 + b"]" * 5000), S, "FormatError", "nests deeper")
add("safetensors/deep_object.safetensors", st(b'{"a":{"b":{"c":{"d":1}}}}'), S, "FormatError", "nests deeper")
add("safetensors/not_object.safetensors", st(b'"just a string"'), S, "FormatError", "not a JSON object")
add("safetensors/metadata_not_object.safetensors", st({"__metadata__": "x"}), S, "FormatError", "__metadata__ is not an object")
add("safetensors/tensor_named_metadata.safetensors", st({"__metadata__": t("F32", [1], 0, 4)}, F32x1), S, "FormatError",
    "__metadata__")
add("safetensors/metadata_non_string.safetensors", st({"__metadata__": {"epoch": 3}}), S, "FormatError", "not a string")
add("safetensors/entry_not_object.safetensors", st({"w": [1, 2]}), S, "FormatError", "entry is not an object")
add("safetensors/missing_dtype.safetensors", st({"w": {"shape": [1], "data_offsets": [0, 4]}}, F32x1), S, "FormatError",
    "missing field 'dtype'")
add("safetensors/missing_shape.safetensors", st({"w": {"dtype": "F32", "data_offsets": [0, 4]}}, F32x1), S, "FormatError",
    "missing field 'shape'")
add("safetensors/missing_offsets.safetensors", st({"w": {"dtype": "F32", "shape": [1]}}, F32x1), S, "FormatError",
    "missing field 'data_offsets'")
add("safetensors/extra_field.safetensors", st({"w": dict(t("F32", [1], 0, 4), extra=1)}, F32x1), S, "FormatError",
    "unexpected field 'extra'")
add("safetensors/unknown_dtype.safetensors", st({"w": t("F24", [1], 0, 3)}, b"abc"), S, "FormatError", "unknown dtype 'F24'")
add("safetensors/dtype_not_string.safetensors", st({"w": t(7, [1], 0, 4)}, F32x1), S, "FormatError", "dtype is not a string")
add("safetensors/unsupported_dtype_i64.safetensors", st({"n": t("I64", [1], 0, 8)}, b"\0" * 8), S, "FormatError",
    "has dtype I64")
add("safetensors/negative_dim.safetensors", st({"w": t("F32", [-1], 0, 4)}, F32x1), S, "FormatError", "negative")
add("safetensors/fractional_dim.safetensors", st({"w": t("F32", [1.5], 0, 4)}, F32x1), S, "FormatError", "not an integer")
add("safetensors/huge_dim.safetensors", st(b'{"w":{"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]}}', F32x1),
    S, "FormatError", "too large")
add("safetensors/dim_beyond_u64.safetensors", st(b'{"w":{"dtype":"F32","shape":[1e30],"data_offsets":[0,4]}}', F32x1), S,
    "FormatError", "not an integer")
# Found by fuzzing: a number beyond double made nlohmann throw out_of_range, not parse_error.
add("safetensors/dim_beyond_double.safetensors", st(b'{"w":{"dtype":"F32","shape":[1e400],"data_offsets":[0,4]}}', F32x1), S,
    "FormatError", "not valid JSON")
add("safetensors/overflow_product.safetensors", st({"w": t("F32", [2**32, 2**32, 2], 0, 4)}, F32x1), S, "FormatError",
    "overflows")
add("safetensors/overflow_bytes.safetensors", st({"w": t("F64", [2**62], 0, 4)}, F32x1), S, "FormatError", "overflows")
add("safetensors/rank5.safetensors", st({"w": t("F32", [1, 1, 1, 1, 1], 0, 4)}, F32x1), S, "FormatError", "rank 5")
add("safetensors/offsets_not_pair.safetensors", st({"w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}}, F32x1),
    S, "FormatError", "[begin, end]")
add("safetensors/negative_offset.safetensors", st({"w": t("F32", [1], -4, 0)}, F32x1), S, "FormatError", "negative")
add("safetensors/end_before_begin.safetensors", st({"w": t("F32", [0], 8, 4)}, F32x2), S, "FormatError", "< begin")
add("safetensors/wrong_byte_length.safetensors", st({"w": t("F32", [2], 0, 4)}, F32x1), S, "FormatError", "needs 8")
add("safetensors/first_offset_not_zero.safetensors", st({"w": t("F32", [1], 4, 8)}, F32x2), S, "FormatError", "not 0")
add("safetensors/gap.safetensors", st({"a": t("F32", [1], 0, 4), "b": t("F32", [1], 8, 12)}, F32x2 + F32x1), S,
    "FormatError", "gap")
add("safetensors/overlap.safetensors", st({"a": t("F32", [2], 0, 8), "b": t("F32", [1], 4, 8)}, F32x2), S, "FormatError",
    "overlap")
add("safetensors/trailing_bytes.safetensors", st({"a": t("F32", [1], 0, 4)}, F32x1 + b"junk"), S, "FormatError",
    "trailing bytes")
add("safetensors/truncated_data.safetensors", st({"a": t("F32", [2], 0, 8)}, F32x1), S, "FormatError", "truncated")
add("safetensors/duplicate_names.safetensors",
    st(b'{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', F32x2),
    S, "FormatError", "duplicate tensor name 'a'")
add("safetensors/duplicate_field.safetensors",
    st(b'{"a":{"dtype":"F32","shape":[1],"shape":[1],"data_offsets":[0,4]}}', F32x1), S, "FormatError", "duplicate key 'shape'")
add("safetensors/nul_in_name.safetensors", st(b'{"a\\u0000b":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', F32x1), S,
    "FormatError", "NUL")
add("safetensors/empty_name.safetensors", st({"": t("F32", [1], 0, 4)}, F32x1), S, "FormatError", "empty tensor name")
# valid but unusual
h = {"a": t("F32", [2], 0, 8), "b": t("F64", [1], 8, 16)}
raw = json.dumps(h, separators=(",", ":")).encode()
if len(raw) % 2 == 0:
    raw += b" "
add("safetensors/ok_misaligned.safetensors", st(raw, F32x2 + struct.pack("<d", 0.25)), S, "ok", "", tensors=2)
add("safetensors/ok_zero_size.safetensors",
    st({"e": t("F32", [0, 5], 0, 0), "a": t("F32", [1], 0, 4), "f": t("F64", [3, 0], 4, 4)}, F32x1, pad=True), S, "ok", "",
    tensors=3)
add("safetensors/ok_f16_bf16.safetensors",
    st({"h": t("F16", [3], 0, 6), "b": t("BF16", [2], 6, 10)},
       struct.pack("<3H", 0x3C00, 0xC000, 0x0001) + struct.pack("<2H", 0x3F80, 0xBF00), pad=True), S, "ok", "", tensors=2)
add("safetensors/ok_empty.safetensors", st({}, pad=True), S, "ok", "", tensors=0)
add("safetensors/ok_metadata_only.safetensors", st({"__metadata__": {"format": "pt"}}, pad=True), S, "ok", "", tensors=0)


# ---------------------------------------------------------------- NPY
def npy(dict_text, data, major=1, minor=0):
    h = dict_text.encode()
    total = 6 + 2 + (2 if major == 1 else 4) + len(h) + 1
    h += b" " * ((64 - total % 64) % 64) + b"\n"
    ln = struct.pack("<H", len(h)) if major == 1 else struct.pack("<I", len(h))
    return b"\x93NUMPY" + bytes([major, minor]) + ln + h + data


N = "npy"
D2 = struct.pack("<2f", 1.0, 2.0)
add("npy/bad_magic.npy", b"\x93NUMPZ\x01\x00" + npy("{}", b"")[8:], N, "FormatError", "bad magic")
add("npy/too_short.npy", b"\x93NUM", N, "FormatError", "too short")
add("npy/bad_header.npy", npy("this is not a dict", D2), N, "FormatError", "expected '{'")
add("npy/header_unterminated.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 500) + b"{'descr'", N, "FormatError",
    "past the end")
add("npy/unsupported_dtype.npy", npy("{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", b"\0" * 8), N,
    "FormatError", "unsupported dtype '<i4'")
add("npy/object_dtype.npy", npy("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", b"\0" * 8), N, "FormatError",
    "unsupported dtype")
add("npy/fortran_order.npy", npy("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", D2), N, "FormatError",
    "fortran_order True")
add("npy/big_endian.npy", npy("{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }", D2), N, "FormatError",
    "big-endian")
add("npy/truncated.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", D2), N, "FormatError", "truncated")
add("npy/trailing.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", D2), N, "FormatError", "trailing")
add("npy/rank5.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1, 1, 1, 2), }", D2), N, "FormatError",
    "rank 5")
add("npy/missing_key.npy", npy("{'descr': '<f4', 'shape': (2,), }", D2), N, "FormatError", "no 'fortran_order'")
add("npy/extra_key.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 0}", D2), N, "FormatError",
    "unexpected key")
add("npy/version_9.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", D2, major=9), N, "FormatError",
    "version 9.0")
add("npy/ok_v2.npy", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 2), }", struct.pack("<2d", 1, 2), major=2), N,
    "ok", "")
add("npy/ok_v3_scalar.npy", npy("{'descr': '<f4', 'fortran_order': False, 'shape': (), }", struct.pack("<f", 7), major=3), N,
    "ok", "")


# ---------------------------------------------------------------- images
def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def png(w, h, depth, color, rows, ihdr_wh=None):
    iw, ih = ihdr_wh or (w, h)
    raw = b"".join(b"\0" + r for r in rows)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", iw, ih, depth, color, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


def noise_rows(w, h, channels, seed=1):
    x = seed
    rows = []
    for _ in range(h):
        r = bytearray()
        for _ in range(w * channels):
            x = (1103515245 * x + 12345) & 0x7FFFFFFF
            r.append(x >> 16 & 0xFF)
        rows.append(bytes(r))
    return rows


I = "image"
good = png(64, 64, 8, 2, noise_rows(64, 64, 3))
add("images/empty.png", b"", I, "FormatError", "empty file")
add("images/text.png", b"this is a text file, not an image\n", I, "FormatError", "not a PNG or JPEG")
add("images/truncated.png", good[: len(good) // 2], I, "FormatError", "cannot decode")
# Found by fuzzing: a zero-length IDAT before the image data made stb_image memcpy to a null buffer.
_ok1 = png(1, 1, 8, 0, [b"\x80"])
add("images/empty_first_idat.png", _ok1[:33] + chunk(b"IDAT", b"") + _ok1[33:], I, "FormatError", "empty IDAT")
add("images/truncated_header.png", good[:20], I, "FormatError", "cannot read the image header")
add("images/zero_by_zero.png", png(0, 0, 8, 2, []), I, "FormatError", "0x0 (no pixels)")
add("images/over_cap_100000.png", png(1, 1, 8, 2, [b"\0\0\0"], ihdr_wh=(100000, 100000)), I, "FormatError", "over the limit")
add("images/over_cap_9000x10.png", png(1, 1, 8, 2, [b"\0\0\0"], ihdr_wh=(9000, 10)), I, "FormatError", "over the limit")
bomb_rows = b"\0" * (64 * 1024 * 1024)  # 64 MB of zeros behind a 1x1 header
add("images/zlib_bomb.png",
    b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)) +
    chunk(b"IDAT", zlib.compress(bomb_rows, 9)) + chunk(b"IEND", b""), I, "FormatError", "outofmem")
add("images/animated.gif", b"GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04\x00\x00\x00\x00\x00,"
    b"\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;", I, "FormatError", "GIF")
bmp_px = b"\x00\x00\xff\x00"
add("images/tiny.bmp", b"BM" + struct.pack("<IHHI", 58, 0, 0, 54) +
    struct.pack("<IiiHHIIiiII", 40, 1, 1, 1, 24, 0, 4, 2835, 2835, 0, 0) + bmp_px, I, "FormatError", "BMP")
# 16-bit RGB, 2x1: (0x1234, 0x8000, 0xffff), (0, 0x00ff, 0x0100) -> 8-bit (0x12, 0x80, 0xff), (0, 0, 1)
add("images/rgb16.png", png(2, 1, 16, 2, [struct.pack(">6H", 0x1234, 0x8000, 0xFFFF, 0, 0x00FF, 0x0100)]), I, "ok", "",
    width=2, height=1, pixels=[0x12, 0x80, 0xFF, 0, 0, 1], tolerance=0)
# grey + alpha, 2x1: (50, a=0), (200, a=255) -> RGB (50,50,50), (200,200,200)
add("images/grey_alpha.png", png(2, 1, 8, 4, [bytes([50, 0, 200, 255])]), I, "ok", "", width=2, height=1,
    pixels=[50, 50, 50, 200, 200, 200], tolerance=0)
add("images/grey.png", png(3, 1, 8, 0, [bytes([0, 128, 255])]), I, "ok", "", width=3, height=1,
    pixels=[0, 0, 0, 128, 128, 128, 255, 255, 255], tolerance=0)
add("images/palette.png",
    b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 1, 8, 3, 0, 0, 0)) +
    chunk(b"PLTE", bytes([255, 0, 0, 0, 0, 255])) + chunk(b"IDAT", zlib.compress(b"\0\x01\x00")) + chunk(b"IEND", b""),
    I, "ok", "", width=2, height=1, pixels=[0, 0, 255, 255, 0, 0], tolerance=0)


class BitWriter:
    def __init__(self):
        self.out = bytearray()
        self.acc = 0
        self.n = 0

    def put(self, value, nbits):
        for i in range(nbits - 1, -1, -1):
            self.acc = (self.acc << 1) | ((value >> i) & 1)
            self.n += 1
            if self.n == 8:
                self.out.append(self.acc)
                if self.acc == 0xFF:
                    self.out.append(0)  # byte stuffing
                self.acc = 0
                self.n = 0

    def flush(self):
        while self.n:
            self.put(1, 1)  # pad with ones
        return bytes(self.out)


def jpeg(blocks_w, blocks_h, values, components=1):
    """Baseline JPEG of flat 8x8 blocks: values[comp][by][bx] is the block's sample value.
    Quantisation 1; DC table: categories 0..11 all 4-bit codes (code = category); AC table: one
    symbol, EOB (0x00), code '0'. No subsampling."""
    seg = lambda m, body: b"\xff" + bytes([m]) + struct.pack(">H", len(body) + 2) + body
    dqt = seg(0xDB, b"\x00" + b"\x01" * 64)
    comps = b"".join(bytes([c + 1, 0x11, 0]) for c in range(components))
    sof = seg(0xC0, struct.pack(">BHHB", 8, blocks_h * 8, blocks_w * 8, components) + comps)
    dc_counts = bytes([0, 0, 0, 12] + [0] * 12)
    dc_vals = bytes(range(12))
    dht = seg(0xC4, b"\x00" + dc_counts + dc_vals + b"\x10" + bytes([1] + [0] * 15) + b"\x00")
    sos = seg(0xDA, bytes([components]) + b"".join(bytes([c + 1, 0x00]) for c in range(components)) + b"\x00\x3f\x00")
    bw = BitWriter()
    pred = [0] * components
    for by in range(blocks_h):
        for bx in range(blocks_w):
            for c in range(components):
                dc = 8 * (values[c][by][bx] - 128)
                diff = dc - pred[c]
                pred[c] = dc
                cat = abs(diff).bit_length()
                bw.put(cat, 4)
                if cat:
                    bw.put(diff if diff > 0 else diff + (1 << cat) - 1, cat)
                bw.put(0, 1)  # EOB
    return b"\xff\xd8" + dqt + sof + dht + sos + bw.flush() + b"\xff\xd9"


grey_vals = [[[40, 200], [120, 255]]]
gj = jpeg(2, 2, grey_vals)
add("images/ok_grey.jpg", gj, I, "ok", "", width=16, height=16, pixels=[40, 40, 40], tolerance=1)
# YCbCr: Y=128, Cb=128, Cr=228 is a red-ish grey; with Cb=Cr=128 every channel equals Y.
add("images/ok_ycbcr.jpg", jpeg(1, 1, [[[90]], [[128]], [[128]]], components=3), I, "ok", "", width=8, height=8,
    pixels=[90, 90, 90], tolerance=1)
add("images/jpeg_truncated.jpg", gj[: len(gj) - 6], I, "FormatError", "truncated JPEG")
add("images/jpeg_truncated_header.jpg", gj[:30], I, "FormatError", "truncated JPEG")
too_many = bytearray(gj)
k = too_many.find(b"\xff\xc4") + 5
too_many[k:k + 16] = bytes([0] * 8 + [200, 100] + [0] * 6)  # 300 codes; the segment length no longer matches either
add("images/jpeg_dht_300_codes.jpg", bytes(too_many), I, "FormatError", "inconsistent JPEG DHT")
over = bytearray(gj)
over[k:k + 16] = bytes([3] + [0] * 2 + [9] + [0] * 12)  # three 1-bit codes: over-subscribed (same 12 values)
add("images/jpeg_dht_oversubscribed.jpg", bytes(over), I, "FormatError", "over-subscribe")
short = bytearray(gj)
short[k - 3:k - 1] = struct.pack(">H", struct.unpack(">H", bytes(short[k - 3:k - 1]))[0] - 5)  # length too small
add("images/jpeg_dht_length_mismatch.jpg", bytes(short), I, "FormatError", "inconsistent JPEG DHT")
add("images/jpeg_no_sof.jpg", gj[:2] + gj[gj.find(b"\xff\xc4"):], I, "FormatError", "no frame header")
add("images/jpeg_no_soi.jpg", b"\xff\xd9\xff" + gj[3:], I, "FormatError", "not a PNG or JPEG")

# ---------------------------------------------------------------- IDX
X = "idx_images"
L = "idx_labels"


def idx(type_code, dims, data):
    return b"\0\0" + bytes([type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + data


def gz(data):
    c = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip wrapper, mtime 0: deterministic
    return c.compress(data) + c.flush()


good_img = idx(0x08, [2, 3, 3], bytes(range(18)))
good_lbl = idx(0x08, [4], bytes([9, 0, 3, 7]))
add("idx/ok_images.idx", good_img, X, "ok", "")
add("idx/ok_images.idx.gz", gz(good_img), X, "ok", "")
add("idx/ok_labels.idx.gz", gz(good_lbl), L, "ok", "")
add("idx/empty.idx", b"", X, "FormatError", "too short")
add("idx/bad_magic.idx", b"\x01\x02" + good_img[2:], X, "FormatError", "bad magic")
add("idx/float_type.idx", idx(0x0D, [1, 1, 1], b"\0" * 4), X, "FormatError", "float")
add("idx/labels_as_images.idx", good_lbl, X, "FormatError", "expected 3")
add("idx/images_as_labels.idx", good_img, L, "FormatError", "expected 1")
add("idx/truncated_header.idx", good_img[:9], X, "FormatError", "truncated header")
add("idx/truncated_data.idx", good_img[:-1], X, "FormatError", "truncated data")
add("idx/trailing.idx", good_img + b"x", X, "FormatError", "trailing bytes")
add("idx/truncated.idx.gz", gz(good_img)[:-10], X, "FormatError", "truncated gzip")
add("idx/trailing_after_gzip.idx.gz", gz(good_img) + b"junk", X, "FormatError", "trailing bytes after the gzip")
add("idx/overflow.idx", idx(0x08, [0xFFFFFFFF] * 3, b""), X, "FormatError", "overflows")
add("idx/zero_size_images.idx", idx(0x08, [2, 0, 28], b""), X, "FormatError", "image size")

# ---------------------------------------------------------------- missing files / directories
entries.append({"file": "does_not_exist.safetensors", "loader": S, "expect": "IoError", "message": "does_not_exist"})
entries.append({"file": "safetensors", "loader": S, "expect": "IoError", "message": "directory"})
entries.append({"file": "does_not_exist.png", "loader": I, "expect": "IoError", "message": "does_not_exist"})
entries.append({"file": "npy", "loader": N, "expect": "IoError", "message": "directory"})

with open(os.path.join(OUT, "manifest.json"), "w") as f:
    json.dump({"generator": "tools/make_bad_corpus.py",
               "loaders": {"safetensors": "io::read_safetensors, then tensor() of every name",
                           "npy": "io::read_npy_f32", "image": "io::read_image (default limits)",
                           "idx_images": "io::read_idx_images", "idx_labels": "io::read_idx_labels"},
               "entries": entries}, f, indent=1)
    f.write("\n")
print(f"{len(entries)} entries in {OUT}")
