#!/usr/bin/python3
"""Write tests/data/bad/onnx/: crafted ONNX files, each small and with one defect, for
gradattr's ONNX importer, and tests/data/bad/onnx/expected.json:

  {"<file>": {"error": "FormatError" | "IoError" | null,
              "must_name": [strings the error message must contain besides the file name],
              "defect": "what is wrong",
              "checker": "what onnx.checker.check_model(full_check=True) says (whitespace collapsed)",
              "companions": [other files of the case, if any]}, ...}

"error": null marks the one control file (ok_tiny.onnx: the base every defect is made
from, which must load).  Every case is built from that base with onnx.helper, or with the
protobuf API / byte patching where onnx.helper refuses to write the defect.  Names are
easy to find in messages: nodes "bad_node", tensors "w_bad".

Run:  /usr/bin/python3 tools/make_bad_onnx_corpus.py [--out tests/data/bad/onnx]
Deterministic: running it twice gives identical bytes.
"""
import argparse
import copy
import json
import os
import random
import sys
import warnings

import numpy as np
import onnx
import onnx.shape_inference
from google.protobuf.message import DecodeError
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradattr_fixtures import io  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPSET = 17
SEED = 20240


# --- the base model ---------------------------------------------------------------
# input [1,3,8,8] -> conv0 (Conv 3x3 pad 1, w0 [4,3,3,3], b0 [4]) -> relu0 -> gap0
# (GlobalAveragePool) -> flat0 (Flatten) -> fc0 (Gemm transB=1, w1 [10,4], b1 [10]) -> logits [1,10]

def _weights():
    rng = np.random.default_rng(SEED)
    return {
        "w0": rng.standard_normal((4, 3, 3, 3)).astype(np.float32),
        "b0": rng.standard_normal(4).astype(np.float32),
        "w1": rng.standard_normal((10, 4)).astype(np.float32),
        "b1": rng.standard_normal(10).astype(np.float32),
    }


def base_nodes(conv_w="w0"):
    return [
        helper.make_node("Conv", ["input", conv_w, "b0"], ["conv_out"], name="conv0",
                         kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[1, 1]),
        helper.make_node("Relu", ["conv_out"], ["relu_out"], name="relu0"),
        helper.make_node("GlobalAveragePool", ["relu_out"], ["gap_out"], name="gap0"),
        helper.make_node("Flatten", ["gap_out"], ["flat_out"], name="flat0", axis=1),
        helper.make_node("Gemm", ["flat_out", "w1", "b1"], ["logits"], name="fc0", transB=1),
    ]


def base_inits(skip=()):
    return [numpy_helper.from_array(a, n) for n, a in _weights().items() if n not in skip]


def vi(name, shape, elem=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, elem, shape)


def model(nodes, inits, inputs=None, outputs=None, name="bad_onnx_corpus"):
    g = helper.make_graph(nodes, name, inputs or [vi("input", [1, 3, 8, 8])],
                          outputs or [vi("logits", [1, 10])], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", OPSET)],
                          producer_name="gradattr tools/make_bad_onnx_corpus.py")
    m.ir_version = 8
    return m


def base():
    return model(base_nodes(), base_inits())


def checker_says(data_or_model, path=None):
    try:
        if path is not None:
            # not check_model(path, full_check=True): in onnx 1.12 that rewrites the file
            # (infer_shapes_path in place); the path form checks the external data files
            onnx.checker.check_model(path)
            onnx.shape_inference.infer_shapes(onnx.load(path, load_external_data=False),
                                              check_type=True, strict_mode=True)
        else:
            m = data_or_model
            if isinstance(m, bytes):
                m = onnx.load_from_string(m)
            onnx.checker.check_model(m, full_check=True)
        return "ok"
    except DecodeError as e:
        return "protobuf DecodeError: " + " ".join(str(e).split())
    except Exception as e:   # noqa: BLE001 - we record whatever the checker reports
        text = " ".join(str(e).split())
        return f"{type(e).__name__}: {text[:300]}"


# --- cases --------------------------------------------------------------------------

class Corpus:
    def __init__(self, out):
        self.out = out
        self.expected = {}
        os.makedirs(out, exist_ok=True)

    def add(self, fname, data, error, must_name, defect, companions=None):
        if isinstance(data, onnx.ModelProto):
            data = data.SerializeToString()
        path = os.path.join(self.out, fname)
        io._atomic_write_bytes(path, [data])
        said = checker_says(data, path if fname.startswith("external_") else None)
        said = said.replace(os.path.abspath(self.out) + os.sep, "<dir>/")
        e = {"error": error, "must_name": must_name, "defect": defect, "checker": said}
        if companions:
            e["companions"] = companions
        self.expected[fname] = e

    def companion(self, fname, data):
        io._atomic_write_bytes(os.path.join(self.out, fname), [data])

    def finish(self):
        js = json.dumps(self.expected, indent=2) + "\n"
        io._atomic_write_bytes(os.path.join(self.out, "expected.json"), [js.encode()])


def _decode_error(data):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            onnx.ModelProto().ParseFromString(data)
    except DecodeError:
        return True
    return False


def external_tensor(name, dims, location, offset, length):
    """A FLOAT initializer whose data live in an external file (data_location EXTERNAL)."""
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(dims)
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", str(offset)), ("length", str(length))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data", "bad", "onnx"))
    args = ap.parse_args()
    c = Corpus(args.out)
    w = _weights()

    ok = base()
    assert checker_says(ok) == "ok"
    c.add("ok_tiny.onnx", ok, None, [],
          "none: the valid base every other case is made from (input [1,3,8,8] -> Conv -> Relu -> "
          "GlobalAveragePool -> Flatten -> Gemm -> logits [1,10]); must load")

    # 1. truncated protobuf
    data = ok.SerializeToString()
    cut = data[: len(data) // 2]
    try:
        onnx.ModelProto().ParseFromString(cut)
        raise AssertionError("the truncated model still parses")
    except DecodeError:
        pass
    c.add("truncated.onnx", cut, "FormatError", [],
          f"ok_tiny.onnx cut to its first {len(cut)} of {len(data)} bytes (ends inside a "
          "length-delimited field)")

    # 2. random bytes: the first seed from SEED on whose bytes Python's protobuf rejects with a
    # DecodeError (some random strings only stop at an end-group tag with a warning)
    seed = SEED
    while True:
        rnd = random.Random(seed)
        junk = bytes(rnd.randrange(256) for _ in range(256))
        if _decode_error(junk):
            break
        seed += 1
    c.add("random_bytes.onnx", junk, "FormatError", [],
          f"256 random bytes (Python random.Random({seed}).randrange(256) each); protobuf "
          "rejects them (DecodeError)")

    # 3. empty file
    c.add("empty.onnx", b"", "FormatError", [],
          "0 bytes: protobuf parses it as an empty ModelProto (no graph, no opset); the importer "
          "must say the file has no graph rather than return an empty model")

    # 4. dangling input
    nodes = base_nodes()
    nodes[1] = helper.make_node("Relu", ["missing_value"], ["relu_out"], name="bad_node")
    c.add("dangling_input.onnx", model(nodes, base_inits()), "FormatError",
          ["bad_node", "missing_value"],
          "node bad_node (Relu) reads 'missing_value', which no node, initializer or graph input "
          "produces (conv_out is then unused)")

    # 5. cycle
    nodes = base_nodes()
    nodes[1:3] = [
        helper.make_node("Add", ["conv_out", "cycle_b_out"], ["cycle_a_out"], name="cycle_a"),
        helper.make_node("Relu", ["cycle_a_out"], ["cycle_b_out"], name="cycle_b"),
        helper.make_node("GlobalAveragePool", ["cycle_b_out"], ["gap_out"], name="gap0"),
    ]
    c.add("cycle.onnx", model(nodes, base_inits()), "FormatError", ["cycle_"],
          "nodes cycle_a (Add of conv_out and cycle_b_out) and cycle_b (Relu of cycle_a_out -> "
          "cycle_b_out) feed each other; gap0 reads cycle_b_out. 'cycle_' matches either node "
          "name")

    # 6. nodes out of topological order
    nodes = base_nodes()
    nodes[0], nodes[1] = nodes[1], nodes[0]
    nodes[0].name = "bad_node"
    c.add("out_of_order.onnx", model(nodes, base_inits()), "FormatError", ["bad_node", "conv_out"],
          "node bad_node (Relu) comes before conv0, which produces its input conv_out; otherwise "
          "valid. The ONNX IR requires nodes in topological order and onnx.checker rejects it, "
          "so this corpus expects a rejection (an importer that sorts nodes itself would load it "
          "and this entry would change)")

    # 7. raw_data length disagrees with dims x element size
    t = numpy_helper.from_array(w["w0"], "w_bad")
    t.raw_data = t.raw_data[:-8]
    c.add("raw_data_length.onnx", model(base_nodes("w_bad"), [t] + base_inits(skip=("w0",))),
          "FormatError", ["w_bad"],
          "initializer w_bad (Conv weight) has dims [4,3,3,3] FLOAT = 432 bytes but 424 bytes of "
          "raw_data")

    # 8. negative dims
    t = numpy_helper.from_array(w["w0"], "w_bad")
    del t.dims[:]
    t.dims.extend([4, -3, 3, 3])
    c.add("negative_dim.onnx", model(base_nodes("w_bad"), [t] + base_inits(skip=("w0",))),
          "FormatError", ["w_bad"],
          "initializer w_bad has dims [4,-3,3,3] (raw_data 432 bytes)")

    # 9. dims whose product overflows int64
    t = numpy_helper.from_array(w["w0"], "w_bad")
    del t.dims[:]
    t.dims.extend([2 ** 32, 2 ** 32, 3, 3])
    c.add("dims_overflow.onnx", model(base_nodes("w_bad"), [t] + base_inits(skip=("w0",))),
          "FormatError", ["w_bad"],
          "initializer w_bad has dims [4294967296,4294967296,3,3]: each fits in int64, the "
          "element count 2^64*9 does not (raw_data 432 bytes)")

    # 10. unsupported op: Loop (with a body graph) on the data path
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"], name="body_cond"),
         helper.make_node("Relu", ["v_in"], ["v_out"], name="body_relu")],
        "loop_body",
        [vi("iter", [], TensorProto.INT64), vi("cond_in", [], TensorProto.BOOL),
         vi("v_in", [1, 4, 8, 8])],
        [vi("cond_out", [], TensorProto.BOOL), vi("v_out", [1, 4, 8, 8])])
    nodes = base_nodes()
    nodes[1] = helper.make_node("Loop", ["trip_count", "", "conv_out"], ["relu_out"], name="bad_node",
                                body=body)
    inits = base_inits() + [numpy_helper.from_array(np.array(2, dtype=np.int64), "trip_count")]
    c.add("unsupported_op_loop.onnx", model(nodes, inits), "FormatError", ["bad_node", "Loop"],
          "node bad_node is a Loop (2 iterations of Relu in its body graph) between conv0 and gap0: "
          "an op gradattr does not execute (control flow, GRAPH attribute)")

    # 11. unsupported attribute value
    nodes = base_nodes()
    nodes.insert(2, helper.make_node("MaxPool", ["relu_out"], ["pool_out"], name="bad_node",
                                     kernel_shape=[2, 2], strides=[2, 2], storage_order=1))
    nodes[3].input[0] = "pool_out"
    c.add("unsupported_attr_maxpool_storage_order.onnx", model(nodes, base_inits()), "FormatError",
          ["bad_node", "storage_order"],
          "node bad_node is MaxPool kernel 2x2 stride 2 with storage_order=1 (column-major "
          "Indices; only the default 0 is supported). Chosen over AveragePool dilations, which "
          "opset 17 does not define (it appeared in opset 19) so the file would not be a valid "
          "opset-17 model at all")

    # 12. symbolic channel dim
    nodes = [
        helper.make_node("Relu", ["x_sym"], ["relu_out"], name="relu0"),
        helper.make_node("GlobalAveragePool", ["relu_out"], ["gap_out"], name="gap0"),
        helper.make_node("Flatten", ["gap_out"], ["logits"], name="flat0", axis=1),
    ]
    c.add("symbolic_channel.onnx",
          model(nodes, [], inputs=[vi("x_sym", [1, "channels", 8, 8])], outputs=[vi("logits", [1, "channels"])]),
          "FormatError", ["x_sym", "channels"],
          "graph input x_sym has shape [1, 'channels', 8, 8] (dim_param on the channel axis) and "
          "nothing in the graph fixes it (Relu -> GlobalAveragePool -> Flatten)")

    # 13. two graph outputs
    nodes = base_nodes()
    nodes[-1].output[0] = "out_a"
    nodes.append(helper.make_node("Relu", ["out_a"], ["out_b"], name="relu1"))
    c.add("two_outputs.onnx",
          model(nodes, base_inits(), outputs=[vi("out_a", [1, 10]), vi("out_b", [1, 10])]),
          "FormatError", ["out_a", "out_b"],
          "the graph has two outputs, out_a (the Gemm) and out_b (Relu of it); gradattr needs "
          "exactly one")

    # 14. output without a batch dimension
    nodes = base_nodes()
    nodes[-1].output[0] = "fc_out"
    nodes.append(helper.make_node("Reshape", ["fc_out", "shape_flat"], ["out_rank1"], name="reshape0"))
    inits = base_inits() + [numpy_helper.from_array(np.array([-1], dtype=np.int64), "shape_flat")]
    c.add("rank1_output.onnx", model(nodes, inits, outputs=[vi("out_rank1", [10])]), "FormatError",
          ["out_rank1"],
          "the graph output out_rank1 has shape [10] (Reshape of the [1,10] logits to [-1]): "
          "no batch dimension")

    # 15-18. external data
    nb = 4 * 3 * 3 * 3 * 4

    def ext_model(location, offset=0, length=nb):
        return model(base_nodes("w_bad"),
                     [external_tensor("w_bad", [4, 3, 3, 3], location, offset, length)]
                     + base_inits(skip=("w0",)))

    c.add("external_absolute_path.onnx", ext_model("/etc/passwd"), "FormatError",
          ["w_bad", "/etc/passwd"],
          "initializer w_bad's external data location is the absolute path /etc/passwd (a file "
          "that exists and is long enough: an importer that follows absolute paths loads it)")
    c.add("external_escapes_dir.onnx", ext_model("../x.bin"), "FormatError", ["w_bad", "../x.bin"],
          "initializer w_bad's external data location '../x.bin' leaves the model's directory "
          "(no such file exists either: an importer that follows it fails with a different error)")
    c.add("external_missing_file.onnx", ext_model("missing_weights.bin"), "IoError",
          ["w_bad", "missing_weights.bin"],
          "initializer w_bad's external data file missing_weights.bin (beside the model) does "
          "not exist")
    short = w["w0"].tobytes()[: nb // 2]
    c.companion("short_weights.bin", short)
    c.add("external_short_file.onnx", ext_model("short_weights.bin", 0, nb), "FormatError",
          ["w_bad", "short_weights.bin"],
          f"initializer w_bad declares offset 0, length {nb} in short_weights.bin, which has "
          f"{len(short)} bytes",
          companions=["short_weights.bin"])

    # 19. initializer of an unsupported data type feeding a Conv
    t = TensorProto()
    t.name = "w_bad"
    t.data_type = TensorProto.STRING
    t.dims.extend([4, 3, 3, 3])
    t.string_data.extend([b"x"] * 108)
    c.add("string_initializer.onnx", model(base_nodes("w_bad"), [t] + base_inits(skip=("w0",))),
          "FormatError", ["w_bad", "STRING"],
          "initializer w_bad, the Conv weight of conv0, has data_type STRING (8), dims "
          "[4,3,3,3], 108 string_data entries")

    # 20. integer shape arithmetic that overflows: Flatten's place taken by a Reshape whose
    # target is Concat(Div(INT64_MIN, -1), 4); the importer evaluates such arithmetic itself
    # (ONNX's data propagation has no Div) and must refuse it, not trap on the division
    i64 = lambda name, v: numpy_helper.from_array(np.array(v, dtype=np.int64), name)
    nodes = base_nodes()
    nodes[3] = helper.make_node("Reshape", ["gap_out", "target"], ["flat_out"], name="reshape0")
    nodes[3:3] = [helper.make_node("Div", ["i64_min", "minus_one"], ["quot"], name="div0"),
                  helper.make_node("Concat", ["quot", "four"], ["target"], name="concat0", axis=0)]
    inits = base_inits() + [i64("i64_min", [np.iinfo(np.int64).min]), i64("minus_one", [-1]), i64("four", [4])]
    c.add("shape_arith_overflow.onnx", model(nodes, inits), "FormatError", ["reshape0", "flat_out"],
          "the Reshape target of reshape0 is Concat(Div(INT64_MIN, -1), 4): the division overflows "
          "int64, so the target is not folded and the shape of flat_out stays open")

    c.finish()
    for k, v in c.expected.items():
        print(f"{k:48s} {str(v['error']):12s} {v['must_name']}  checker: {v['checker'][:90]}")


if __name__ == "__main__":
    main()
