#!/usr/bin/python3
"""Write tests/data/onnx/<model>/: small seeded random-weight torchvision models
exported to ONNX by torch 1.13, with reference logits and gradients for
gradattr's ONNX importer and graph executor.

Run:  /usr/bin/python3 tools/make_onnx_fixtures.py [--out tests/data/onnx] [--only NAME ...]

Every model is built from torchvision's own classes/blocks (so module paths and
ONNX node names are those of a user's export), narrowed, with BatchNorm set to
seeded non-trivial values (tools/gradattr_fixtures/onnxref.py: calibrate_bn),
eval mode, and exported with
  torch.onnx.export(m, x, f, opset_version=17, do_constant_folding=True,
                    input_names=["input"], output_names=["logits"]).
References are the torch forward/backward passes in float64 on the float32
weights (float64 model: on its own float64 weights), stored in the model's dtype.
A small torch ONNX evaluator re-runs every file as a self-check (logits and
every cut value), nothing more.  Deterministic: rerunning gives identical bytes.
See tests/data/onnx/README.md for the layout.
"""
import argparse
import copy
import json
import os
import sys

import numpy as np
import onnx
import onnx.numpy_helper
import onnx.shape_inference
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gradattr_fixtures import io, onnxref as R, tinyvgg as tv  # noqa: E402

from torchvision.models.densenet import DenseNet  # noqa: E402
from torchvision.models.efficientnet import EfficientNet, _efficientnet_conf  # noqa: E402
from torchvision.models.mobilenetv2 import MobileNetV2  # noqa: E402
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet  # noqa: E402
from torchvision.models.vgg import VGG, make_layers  # noqa: E402
from torchvision.ops.misc import Conv2dNormActivation  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OPSET = 17
CALIB_N = 8
NUM_CLASSES = 10


# --- models --------------------------------------------------------------------

class NarrowResNet(ResNet):
    """torchvision.models.resnet.ResNet with planes `widths` instead of 64/128/256/512:
    the same attributes (conv1, bn1, relu, maxpool, layer1..4 built by ResNet._make_layer,
    avgpool, fc), forward and initialisation as torchvision's __init__."""

    def __init__(self, block, layers, widths, num_classes=NUM_CLASSES):
        nn.Module.__init__(self)
        self._norm_layer = nn.BatchNorm2d
        self.inplanes = widths[0]
        self.dilation = 1
        self.groups = 1
        self.base_width = 64
        self.conv1 = nn.Conv2d(3, self.inplanes, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(self.inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, widths[0], layers[0])
        self.layer2 = self._make_layer(block, widths[1], layers[1], stride=2)
        self.layer3 = self._make_layer(block, widths[2], layers[2], stride=2)
        self.layer4 = self._make_layer(block, widths[3], layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(widths[3] * block.expansion, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def resnet_basic():
    return NarrowResNet(BasicBlock, [2, 1, 1, 1], (8, 16, 24, 32))


def resnet_bottleneck():
    return NarrowResNet(Bottleneck, [1, 1, 1, 1], (4, 8, 12, 16))


def densenet():
    return DenseNet(growth_rate=8, block_config=(2, 2, 2, 2), num_init_features=16, bn_size=2,
                    num_classes=NUM_CLASSES)


MOBILENET_WIDTH, MOBILENET_LAST = 0.15, 64


def mobilenet_v2():
    """MobileNetV2(width_mult=0.15), the full inverted_residual_setting (so the last conv is
    features.18 as in mobilenet_v2), and the 1x1 last conv narrowed from 1280 to 64 channels
    (the class fixes last_channel=1280; features.18 and classifier.1 are rebuilt with the
    same classes and torchvision's initialisation)."""
    m = MobileNetV2(num_classes=NUM_CLASSES, width_mult=MOBILENET_WIDTH)
    cin = m.features[18][0].in_channels
    m.features[18] = Conv2dNormActivation(cin, MOBILENET_LAST, kernel_size=1, norm_layer=nn.BatchNorm2d,
                                          activation_layer=nn.ReLU6)
    m.last_channel = MOBILENET_LAST
    m.classifier[1] = nn.Linear(MOBILENET_LAST, NUM_CLASSES)
    nn.init.kaiming_normal_(m.features[18][0].weight, mode="fan_out")
    nn.init.normal_(m.classifier[1].weight, 0, 0.01)
    nn.init.zeros_(m.classifier[1].bias)
    return m


EFFNET_WIDTH, EFFNET_DEPTH = 0.15, 0.5


def efficientnet_b0():
    conf, last = _efficientnet_conf("efficientnet_b0", width_mult=EFFNET_WIDTH, depth_mult=EFFNET_DEPTH)
    return EfficientNet(conf, dropout=0.2, stochastic_depth_prob=0.2, num_classes=NUM_CLASSES,
                        last_channel=last)


VGG_BN_CFG = [8, 8, "M", 16, 16, "M", 32, 32, 32, "M"]
VGG_BN_HIDDEN = 32


def _vgg_init(model):
    # torchvision VGG's init_weights loop (run here because VGG(init_weights=True) would
    # first initialise its 512*7*7 x 4096 classifier, which is replaced)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.constant_(m.bias, 0)


def vgg_bn():
    """torchvision VGG(make_layers(VGG_BN_CFG, batch_norm=True)); 56x56 input so the last
    pool is 7x7 and avgpool = AdaptiveAvgPool2d((7,7)) is exportable (torch 1.13 exports
    adaptive pooling only when the output size divides the input size); classifier
    narrowed to 1568-32-32-10 keeping the indices classifier.0/.3/.6."""
    c = [v for v in VGG_BN_CFG if v != "M"][-1]
    m = VGG(make_layers(VGG_BN_CFG, batch_norm=True), num_classes=NUM_CLASSES, init_weights=False)
    m.classifier = nn.Sequential(
        nn.Linear(c * 7 * 7, VGG_BN_HIDDEN), nn.ReLU(True), nn.Dropout(),
        nn.Linear(VGG_BN_HIDDEN, VGG_BN_HIDDEN), nn.ReLU(True), nn.Dropout(),
        nn.Linear(VGG_BN_HIDDEN, NUM_CLASSES))
    _vgg_init(m)
    return m


def vgg_tiny_from_safetensors():
    """The exact model of tests/data/vgg_tiny (tinyvgg.py layout), weights loaded from
    its model.safetensors (float32)."""
    m = VGG(make_layers(tv.CFG_E16, batch_norm=False), num_classes=tv.NUM_CLASSES, init_weights=False)
    m.classifier = nn.Sequential(
        nn.Linear(32 * 7 * 7, tv.HIDDEN), nn.ReLU(True), nn.Dropout(),
        nn.Linear(tv.HIDDEN, tv.HIDDEN), nn.ReLU(True), nn.Dropout(),
        nn.Linear(tv.HIDDEN, tv.NUM_CLASSES))
    st, _ = io.load_safetensors(os.path.join(REPO, "tests", "data", "vgg_tiny", "model.safetensors"))
    sd = m.state_dict()
    assert set(sd) == set(st), sorted(set(sd) ^ set(st))
    m.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in st.items()})
    # the same function as the vgg_tiny fixtures: their inputs give their logits
    d = os.path.join(REPO, "tests", "data", "vgg_tiny")
    with torch.no_grad():
        z = copy.deepcopy(m).eval().double()(torch.from_numpy(np.load(os.path.join(d, "input_f64.npy"))))
    assert rel(z, np.load(os.path.join(d, "logits.npy"))) < 1e-12
    return m


# name, constructor, input H=W, seed, head path, cuts [(module, call, why)], randomize BN
MODELS = [
    dict(name="resnet_basic", ctor=resnet_basic, hw=64, seed=11, head="fc",
         torch_class="torchvision.models.resnet.ResNet (subclass NarrowResNet: planes 8,16,24,32), "
                     "BasicBlock, layers [2,1,1,1]",
         cuts=[("layer4", 0, "last block (Grad-CAM's usual layer)"),
               ("layer3.0.relu", 0, "first ReLU inside layer3.0 (first of the two calls of the "
                                    "reused module); the block input is read again by "
                                    "downsample after it")]),
    dict(name="resnet_bottleneck", ctor=resnet_bottleneck, hw=64, seed=12, head="fc",
         torch_class="torchvision.models.resnet.ResNet (subclass NarrowResNet: planes 4,8,12,16, "
                     "expansion 4), Bottleneck, layers [1,1,1,1]",
         cuts=[("layer4", 0, "last block"),
               ("layer3.0.relu", 0, "first ReLU inside layer3.0 (first of three calls); the block "
                                    "input is read again by downsample after it")]),
    dict(name="densenet", ctor=densenet, hw=64, seed=13, head="classifier",
         torch_class="torchvision.models.densenet.DenseNet(growth_rate=8, block_config=(2,2,2,2), "
                     "num_init_features=16, bn_size=2, num_classes=10)",
         cuts=[("features.norm5", 0, "last module of features (pre-activation BN, kept as "
                                     "BatchNormalization; DenseNet.forward applies F.relu after it)"),
               ("features.denseblock3.denselayer1", 0, "new features of the first dense layer of "
                                                       "block 3; the block input is concatenated "
                                                       "again after it")]),
    dict(name="mobilenet_v2", ctor=mobilenet_v2, hw=64, seed=14, head="classifier.1",
         torch_class=f"torchvision.models.mobilenetv2.MobileNetV2(width_mult={MOBILENET_WIDTH}, num_classes=10), "
                     f"features.18 narrowed to {MOBILENET_LAST} channels",
         cuts=[("features.18", 0, "last conv block (Conv-BN-ReLU6)"),
               ("features.13.conv.1", 0, "depthwise Conv-BN-ReLU6 inside the residual block "
                                         "features.13; the block input is added after it")]),
    dict(name="efficientnet_b0", ctor=efficientnet_b0, hw=64, seed=15, head="classifier.1",
         torch_class="torchvision.models.efficientnet.EfficientNet(_efficientnet_conf("
                     f"'efficientnet_b0', width_mult={EFFNET_WIDTH}, depth_mult={EFFNET_DEPTH}), "
                     "dropout=0.2, stochastic_depth_prob=0.2, num_classes=10)",
         cuts=[("features.8", 0, "last conv block (Conv-BN-SiLU)"),
               ("features.4.1.block.1", 0, "depthwise Conv-BN-SiLU of the residual MBConv "
                                           "features.4.1: read twice by squeeze-excitation, "
                                           "the block input is added after it")]),
    dict(name="vgg_bn", ctor=vgg_bn, hw=56, seed=16, head="classifier.6",
         torch_class="torchvision.models.vgg.VGG(make_layers(" + json.dumps(VGG_BN_CFG)
                     + ", batch_norm=True)), classifier 1568-32-32-10",
         cuts=[("features.22", 0, "ReLU after the last conv"),
               ("features.12", 0, "ReLU after the 4th conv (no skip connections in VGG)")]),
]

VGG_TINY = dict(name="vgg_tiny", hw=224, seed=17,
                torch_class="tests/data/vgg_tiny (tools/gradattr_fixtures/tinyvgg.py), weights "
                            "from its model.safetensors",
                cuts=[("features.35", 0, "ReLU after the last conv (the vgg_tiny fixtures' layer)"),
                      ("features.33", 0, "ReLU after the 15th conv (two convs before "
                                         "features.35; at 224x224 input every earlier layer's "
                                         "activation is 4x larger or more)")])


# --- helpers -------------------------------------------------------------------

def seeded_input(seed, hw, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(1, 3, hw, hw, generator=g, dtype=dtype)


def build(spec):
    torch.manual_seed(spec["seed"])
    m = R.no_inplace(spec["ctor"]()).eval()
    g = torch.Generator().manual_seed(1000 + spec["seed"])
    xcal = torch.randn(CALIB_N, 3, spec["hw"], spec["hw"], generator=g)
    R.calibrate_bn(m, xcal, g)
    R.scale_head(m, R.get_module(m, spec["head"]), xcal)
    return m


def pick_class(z):
    """The class with the second-largest logit (not the argmax), and the argmax."""
    order = torch.argsort(z[0], descending=True)
    return int(order[1]), int(order[0])


def check(mp, path_for_external=None):
    """onnx.checker with full_check (shape inference).  For a file with external data the
    path form checks the data files; onnx 1.12's check_model(path, full_check=True) would
    run infer_shapes_path(path) and REWRITE the file with value_info, so the path form is
    run without full_check and the shape inference on the loaded proto."""
    if path_for_external:
        onnx.checker.check_model(path_for_external)
        onnx.shape_inference.infer_shapes(onnx.load(path_for_external, load_external_data=False),
                                          check_type=True, strict_mode=True)
    else:
        onnx.checker.check_model(mp, full_check=True)


def rel(a, b):
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


def dumps(v, ind=""):
    """JSON with one key per line and lists of scalars on one line."""
    if isinstance(v, dict):
        if not v:
            return "{}"
        inner = ind + "  "
        items = [f"{inner}{json.dumps(k)}: {dumps(x, inner)}" for k, x in v.items()]
        return "{\n" + ",\n".join(items) + "\n" + ind + "}"
    if isinstance(v, (list, tuple)):
        if all(not isinstance(x, (dict, list, tuple)) for x in v):
            return "[" + ", ".join(json.dumps(x) for x in v) + "]"
        inner = ind + "  "
        return "[\n" + ",\n".join(inner + dumps(x, inner) for x in v) + "\n" + ind + "]"
    return json.dumps(v)


class Out:
    """Writes one model directory and keeps the list of arrays for meta.json."""

    def __init__(self, root, name):
        self.dir = os.path.join(root, name)
        os.makedirs(self.dir, exist_ok=True)
        self.arrays = {}

    def npy(self, fname, arr, dtype, what):
        if isinstance(arr, torch.Tensor):
            arr = arr.detach().cpu().numpy()
        a = io.save_npy(os.path.join(self.dir, fname), arr, dtype)
        self.arrays[fname] = {"dtype": np.dtype(dtype).name, "shape": list(a.shape), "what": what}

    def raw(self, fname, data):
        io._atomic_write_bytes(os.path.join(self.dir, fname), [data])

    def meta(self, meta):
        meta["arrays"] = self.arrays
        js = dumps(meta) + "\n"
        io._atomic_write_bytes(os.path.join(self.dir, "meta.json"), [js.encode()])


def torch_f32_errors(m32, x32, c, cuts, ref_logits, ref_gx, ref_cuts):
    """max|f32 - f64| / max|f64| of torch's own float32 computation (a guide for the
    C++ float32 tolerances)."""
    err = {}
    with torch.no_grad():
        err["logits"] = rel(m32(x32), ref_logits)
    if ref_gx is not None:
        g32 = R.input_grads(m32, x32, c)
        for s in R.SCORES:
            err[f"grad_input_{s}"] = rel(g32[s], ref_gx[s])
    for i, (mod, call, _) in enumerate(cuts):
        _, g = R.cut_act_and_grads(m32, x32, mod, c, call)
        for s in R.SCORES:
            err[f"grad_{i}_{s}"] = rel(g[s], ref_cuts[i][1][s])
    return err


def references(model64, x64, cuts, mp, with_input_grads=True):
    """Forward, class, input gradients and cut activations/gradients in the model's
    dtype (float64 here); resolves and self-checks each cut's ONNX value name."""
    with torch.no_grad():
        z = model64(x64)
    c, top = pick_class(z)
    gx = R.input_grads(model64, x64, c) if with_input_grads else None
    cut_data, cut_meta = [], []
    for i, (mod, call, why) in enumerate(cuts):
        act, g = R.cut_act_and_grads(model64, x64, mod, c, call)
        value, node = R.value_of(mp, mod, call)
        e = {"module": mod, "value": value, "shape": list(act.shape), "node": node, "why": why}
        if call:
            e["call"] = call
        cut_meta.append(e)
        cut_data.append((act, g))
    # METHODS.md s.1 identity on the references themselves: dy_c = y_c d(log y_c)
    yc = torch.softmax(z, 1)[0, c]
    for g in ([gx] if gx is not None else []) + [g for _, g in cut_data]:
        assert torch.allclose(g["post"], yc * g["log"], rtol=1e-9, atol=1e-14 * float(g["post"].abs().max()))
    return z, c, top, gx, cut_data, cut_meta


def self_check(mp, x, z_ref, cut_meta, cut_data, dtype, tol):
    """Run the ONNX file with the small evaluator; compare logits and every cut value."""
    outs, vals = R.evaluate(mp, x, dtype=dtype, want=[e["value"] for e in cut_meta])
    res = {"logits": rel(outs[0].double(), z_ref)}
    for i, e in enumerate(cut_meta):
        v = vals[e["value"]]
        assert list(v.shape) == e["shape"], (e, v.shape)
        res[f"act_{i}"] = rel(v.double(), cut_data[i][0])
    bad = {k: v for k, v in res.items() if not v <= tol}
    assert not bad, f"ONNX evaluator disagrees with torch: {bad}"
    return res


def model_info(mp):
    return {"ops": R.op_types(mp), "op_counts": R.op_counts(mp),
            "nodes": len(mp.graph.node), "initializers": len(mp.graph.initializer),
            "ir_version": mp.ir_version, "producer": f"{mp.producer_name} {mp.producer_version}"}


def write_standard(out, spec, model, x, dtype_np, name_suffix="", opsets=(OPSET,),
                   with_input_grads=True, notes=None):
    """Export `model` (float32 or float64 parameters) on x, write model.onnx (+ other
    opsets), x, logits, input gradients, cuts and meta.json.  Returns a dict of what
    later steps (f16, external) reuse."""
    o = Out(out, spec["name"] + name_suffix)
    is64 = dtype_np == np.float64
    files = {}
    mps = {}
    for k, opset in enumerate(opsets):
        fname = "model.onnx" if k == 0 else f"model_opset{opset}.onnx"
        data = R.export_bytes(model, x, opset)
        mp = onnx.load_from_string(data)
        check(mp)
        o.raw(fname, data)
        mps[opset] = mp
        files[fname] = dict(opset=opset, bytes=len(data), **model_info(mp))
    mp = mps[opsets[0]]

    ref = copy.deepcopy(model).double()
    x64 = x.double()
    z, c, top, gx, cut_data, cut_meta = references(ref, x64, spec["cuts"], mp, with_input_grads)

    checks = {}
    for opset, mpk in mps.items():
        cm = [dict(e, value=R.value_of(mpk, e["module"], e.get("call", 0))[0]) for e in cut_meta]
        checks[f"opset{opset}"] = self_check(mpk, x64, z, cm, cut_data, torch.float64,
                                             1e-12 if is64 else 1e-4)
        if opset != opsets[0]:
            files[f"model_opset{opset}.onnx"]["cuts"] = [
                {"module": e["module"], "value": e["value"]} for e in cm]

    o.npy("x.npy", x, dtype_np, "input")
    o.npy("logits.npy", z, dtype_np, "logits z (torch forward)")
    if gx is not None:
        for s in R.SCORES:
            o.npy(f"grad_input_{s}.npy", gx[s], dtype_np, f"dS/dx, S = {SCORE_TEXT[s]}")
    for i, (act, g) in enumerate(cut_data):
        o.npy(f"act_{i}.npy", act, dtype_np, f"output of {cut_meta[i]['module']} = ONNX value "
              f"{cut_meta[i]['value']}")
        for s in R.SCORES:
            o.npy(f"grad_{i}_{s}.npy", g[s], dtype_np, f"dS/d act_{i}, S = {SCORE_TEXT[s]}")

    y = torch.softmax(z, 1)[0]
    meta = {
        "model": spec["name"] + name_suffix,
        "torch_class": spec["torch_class"],
        "dtype": "float64" if is64 else "float32",
        "opset": opsets[0],
        "input_name": "input", "output_name": "logits",
        "input_shape": list(x.shape),
        "class": c, "argmax": top,
        "y_class": float(y[c]), "y_argmax": float(y[top]),
        "ops": files["model.onnx"]["ops"],
        "cuts": cut_meta,
        "files": files,
        "seed": spec["seed"],
        "self_check_max_rel_error": checks,
    }
    if not is64:
        meta["torch_float32_max_rel_error"] = torch_f32_errors(
            model, x.float(), c, spec["cuts"], z, gx, cut_data)
    if notes:
        meta["notes"] = notes
    return o, meta, dict(mp=mp, z=z, c=c, top=top, x=x)


SCORE_TEXT = {"pre": "z_c", "post": "softmax(z)_c", "log": "log_softmax(z)_c"}


# --- the float16 and external-data variants ------------------------------------

def _resolve_identity(mp):
    alias = {}
    for n in mp.graph.node:
        if n.op_type == "Identity":
            alias[n.output[0]] = n.input[0]
    return lambda name: alias.get(name, name)


def f16_graph(mp32):
    """The resnet_basic graph with every FLOAT initializer stored as FLOAT16 and the graph
    input/output declared FLOAT16 (a pure float16 graph: onnx.checker with full_check
    accepts it; a float32 input would need a Cast node)."""
    mp = copy.deepcopy(mp32)
    for t in mp.graph.initializer:
        if t.data_type == onnx.TensorProto.FLOAT:
            a = onnx.numpy_helper.to_array(t).astype(np.float16)
            t.CopyFrom(onnx.numpy_helper.from_array(a, t.name))
    for n in mp.graph.node:
        assert n.op_type != "Constant" or \
            n.attribute[0].t.data_type != onnx.TensorProto.FLOAT, n.name
    for v in list(mp.graph.input) + list(mp.graph.output) + list(mp.graph.value_info):
        if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT:
            v.type.tensor_type.elem_type = onnx.TensorProto.FLOAT16
    return mp


def fused_f16_reference(model, mp16):
    """A torch float32 copy of `model` whose every Conv holds the exporter-folded weights of
    the ONNX file (rounded to float16, widened exactly) and whose BatchNorms are Identity,
    fc from the Gemm initializers: the function the float16 file computes, in float32."""
    m = copy.deepcopy(model).float()
    init = {t.name: onnx.numpy_helper.to_array(t) for t in mp16.graph.initializer}
    res = _resolve_identity(mp16)

    def arr(name):
        return torch.from_numpy(init[res(name)].astype(np.float32))

    assert "BatchNormalization" not in R.op_types(mp16)
    by_scope = {R.scope_prefix(p): p for p, _ in m.named_modules() if p}
    for n in mp16.graph.node:
        if n.op_type not in ("Conv", "Gemm"):
            continue
        mod = R.get_module(m, by_scope[n.name[: n.name.rindex("/") + 1]])
        with torch.no_grad():
            mod.weight.copy_(arr(n.input[1]))
            mod.bias = nn.Parameter(arr(n.input[2]))
    for name, mod in list(m.named_modules()):
        if isinstance(mod, nn.BatchNorm2d):
            parent, _, attr = name.rpartition(".")
            setattr(R.get_module(m, parent) if parent else m, attr, nn.Identity())
    return m.eval()


def write_f16(out, spec, model, base):
    o = Out(out, spec["name"] + "_f16")
    mp16 = f16_graph(base["mp"])
    check(mp16)
    o.raw("model.onnx", mp16.SerializeToString())
    x16 = base["x"].to(torch.float16).to(torch.float32)   # float16 values
    ref = fused_f16_reference(model, mp16)
    with torch.no_grad():
        z32 = ref(x16)
        z64 = copy.deepcopy(ref).double()(x16.double())
        z_unfused = copy.deepcopy(model).double()(x16.double())
    outs, _ = R.evaluate(mp16, x16, dtype=torch.float32)
    chk = rel(outs[0], z32)
    assert chk < 1e-5, chk
    o.npy("x.npy", x16, np.float32, "input, float16 values stored as float32")
    o.npy("logits.npy", z32, np.float32, "logits: torch float32 forward, weights = the file's "
          "float16 initializers widened exactly, BatchNorm folded as in the file")
    c, top = pick_class(z32)
    o.meta({
        "model": spec["name"] + "_f16",
        "dtype": "float16 (graph input, output and every initializer)",
        "opset": OPSET, "input_name": "input", "output_name": "logits",
        "input_shape": list(x16.shape), "class": c, "argmax": top,
        "ops": R.op_types(mp16), "cuts": [],
        "files": {"model.onnx": dict(opset=OPSET, bytes=len(mp16.SerializeToString()),
                                     **model_info(mp16))},
        "derived_from": f"{spec['name']}/model.onnx: each FLOAT initializer converted with "
                        "numpy astype(float16) (round to nearest even), graph input/output elem "
                        "type FLOAT16; nodes and names unchanged",
        "reference": "torch float32: the resnet_basic module with every Conv/Linear weight and "
                     "bias set to the file's float16 values widened to float32 and BatchNorm "
                     "replaced by Identity (the exporter folded it into the Conv)",
        "logits_float64_vs_float32_max_abs": float((z64 - z32.double()).abs().max()),
        "logits_vs_float32_model_max_abs": float((z_unfused - z32.double()).abs().max()),
        "self_check_max_rel_error": {"logits": chk},
    })


def write_external(out, spec, base, src_dir):
    o = Out(out, spec["name"] + "_external")
    path = os.path.join(o.dir, "model.onnx")
    wpath = os.path.join(o.dir, "weights.bin")
    # onnx appends to an existing external data file: start from nothing
    for p in (path, wpath):
        if os.path.exists(p):
            os.unlink(p)
    mp = copy.deepcopy(base["mp"])
    onnx.save_model(mp, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=0)
    check(None, path)
    back = onnx.load(path)       # loads weights.bin too
    a = {t.name: onnx.numpy_helper.to_array(t) for t in back.graph.initializer}
    b = {t.name: onnx.numpy_helper.to_array(t) for t in base["mp"].graph.initializer}
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    shallow = onnx.load(path, load_external_data=False)
    ext = []
    for t in shallow.graph.initializer:
        kv = {e.key: e.value for e in t.external_data}
        ext.append({"tensor": t.name, "offset": int(kv.get("offset", 0)), "length": int(kv["length"])})
    o.npy("x.npy", base["x"], np.float32, "input (same as resnet_basic/x.npy)")
    o.npy("logits.npy", base["z"], np.float32, "logits (same as resnet_basic/logits.npy)")
    o.meta({
        "model": spec["name"] + "_external",
        "dtype": "float32", "opset": OPSET, "input_name": "input", "output_name": "logits",
        "input_shape": list(base["x"].shape), "class": base["c"], "argmax": base["top"],
        "ops": R.op_types(back), "cuts": [],
        "files": {"model.onnx": dict(opset=OPSET, bytes=os.path.getsize(path), **model_info(back)),
                  "weights.bin": {"bytes": os.path.getsize(wpath)}},
        "derived_from": f"{spec['name']}/model.onnx saved with onnx.save_model(..., "
                        "save_as_external_data=True, all_tensors_to_one_file=True, "
                        "location='weights.bin', size_threshold=0): every initializer is in "
                        "weights.bin (data_location EXTERNAL, keys location/offset/length)",
        "external_data": ext,
    })


def perturb_f64(model, seed):
    """Double model whose parameters are NOT float32 values: every float parameter and
    buffer multiplied by (1 + 1e-3 N(0,1)) in float64 (a float32 narrowing is visible)."""
    m = copy.deepcopy(model).double()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for t in list(m.parameters()) + [b for b in m.buffers() if b.is_floating_point()]:
            t.mul_(1 + 1e-3 * torch.randn(t.shape, generator=g, dtype=torch.float64))
    return m.eval()


# --- main ------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(REPO, "tests", "data", "onnx"))
    ap.add_argument("--only", nargs="*", help="model names (default: all)")
    args = ap.parse_args()
    R.setup_determinism()
    want = set(args.only) if args.only else None

    def wanted(n):
        return want is None or n in want

    for spec in MODELS:
        names = [spec["name"]] + ([spec["name"] + s for s in ("_f64", "_f16", "_external")]
                                  if spec["name"] == "resnet_basic" else [])
        if not any(wanted(n) for n in names):
            continue
        model = build(spec)
        x = seeded_input(spec["seed"], spec["hw"])
        opsets = (OPSET, 13) if spec["name"] == "resnet_basic" else (OPSET,)
        o, meta, base = write_standard(args.out, spec, model, x, np.float32, opsets=opsets,
                                       notes=NOTES.get(spec["name"]))
        o.meta(meta)
        print(f"{spec['name']}: class {meta['class']} (argmax {meta['argmax']}), y_c={meta['y_class']:.3f}, "
              f"ops {meta['ops']}")
        if spec["name"] != "resnet_basic":
            continue
        if wanted("resnet_basic_f64"):
            m64 = perturb_f64(model, 2000 + spec["seed"])
            x64 = seeded_input(3000 + spec["seed"], spec["hw"], torch.float64)
            o64, meta64, _ = write_standard(args.out, spec, m64, x64, np.float64, name_suffix="_f64",
                                            notes=NOTES.get("resnet_basic_f64"))
            init_types = {t.data_type for t in onnx.load(os.path.join(o64.dir, "model.onnx")).graph.initializer}
            assert init_types == {onnx.TensorProto.DOUBLE}, init_types
            meta64["torch_class"] += "; .double(), every parameter/buffer x (1 + 1e-3 N(0,1)) in float64"
            o64.meta(meta64)
            print(f"resnet_basic_f64: class {meta64['class']}")
        if wanted("resnet_basic_f16"):
            write_f16(args.out, spec, model, base)
            print("resnet_basic_f16 written")
        if wanted("resnet_basic_external"):
            write_external(args.out, spec, base, o.dir)
            print("resnet_basic_external written")

    if wanted("vgg_tiny"):
        spec = VGG_TINY
        model = R.no_inplace(vgg_tiny_from_safetensors()).eval()
        x = seeded_input(spec["seed"], spec["hw"])
        o, meta, _ = write_standard(args.out, spec, model, x, np.float32, with_input_grads=False,
                                    notes=NOTES.get("vgg_tiny"))
        o.meta(meta)
        print(f"vgg_tiny: class {meta['class']} (argmax {meta['argmax']}), ops {meta['ops']}")


# What torch 1.13 wrote for each export (checked by eye on the files; the op lists and
# counts in meta.json are computed).
_RESNET = [
    "every BatchNorm is folded into the Conv before it: the Conv gets a bias input, both "
    "initializers are renamed onnx::Conv_<n>, and the BN module has no node and no scope "
    "(the value named /.../conv1/Conv_output_0 is bn1's output, not conv1's)",
    "a module called twice in one forward gets the scopes relu, relu_1 (relu_2 in "
    "Bottleneck): layer3.0.relu call 0 = /layer3/layer3.0/relu/Relu",
    "downsample's Conv comes after conv2 in node order (torch call order); out += identity "
    "is Add(conv2 or conv3 output, identity)",
    "AdaptiveAvgPool2d((1,1)) -> GlobalAveragePool; torch.flatten(x, 1) -> Flatten(axis=1); "
    "fc -> Gemm(alpha=1, beta=1, transB=1) with initializers fc.weight [10,C] and fc.bias "
    "(torch names kept)",
    "graph input fixed [1,3,H,W] (no dynamic axes); no value_info",
]
NOTES = {
    "resnet_basic": _RESNET + [
        "model_opset13.onnx has the same nodes, names and initializers; only ir_version (7 "
        "vs 8) and the opset import differ"],
    "resnet_bottleneck": _RESNET,
    "resnet_basic_f64": _RESNET + [
        "exported from the float64 module with a float64 input: every initializer and the "
        "graph input/output are DOUBLE; BN folded in double"],
    "densenet": [
        "12 BatchNormalization nodes remain (norm1 of each dense layer, the transitions' "
        "norm, norm5: each follows a Concat, nothing to fold into); attributes epsilon "
        "(1e-5 as a float32), momentum 0.9 and training_mode 0; initializers keep the torch "
        "names (features.norm5.weight, .bias, .running_mean, .running_var)",
        "norm2 (after conv1) is folded into conv1 (bias input, onnx::Conv_<n> names); conv2 "
        "and the transition convs have no bias (2-input Conv, torch names kept)",
        "the first dense layer's torch.cat([x]) is a Concat with one input",
        "each transition's AvgPool2d(2, 2) is Constant (int64 zeros [8]) -> Pad(mode "
        "constant) -> AveragePool(kernel 2, stride 2, pads 0): the pads are an input from a "
        "Constant node, not an initializer",
        "DenseNet.forward's F.relu and F.adaptive_avg_pool2d are at top level: /Relu, "
        "/GlobalAveragePool; features.norm5's output is the pre-ReLU BatchNormalization "
        "output",
    ],
    "mobilenet_v2": [
        "ReLU6 -> Clip(x, min, max) with min 0 and max 6 as float32 scalars from two Constant "
        "nodes per Clip (/.../Constant, /.../Constant_1): 35 Clip, 70 Constant, none of them "
        "initializers",
        "every BatchNorm folded into its Conv; depthwise convs are Conv with group = channels",
        "the residual add is Add(block input, conv output) (operand order as in "
        "InvertedResidual.forward: x + self.conv(x))",
        "Dropout (eval) writes no node",
    ],
    "efficientnet_b0": [
        "SiLU -> Sigmoid + Mul(x, Sigmoid(x)) (no SiLU/Swish op in opset 17): the module's "
        "output is the Mul",
        "squeeze-excitation: GlobalAveragePool -> Conv fc1 (bias) -> Sigmoid+Mul -> Conv fc2 "
        "-> Sigmoid -> Mul(scale, input)",
        "StochasticDepth (eval) and Dropout write no node; the residual add is "
        "Add(block output, input)",
        "14 Identity nodes at the start of the graph: the exporter stores initializers with "
        "equal contents once (here the zero-initialised SE biases) and emits Identity(kept "
        "name) -> other name for the others",
    ],
    "vgg_bn": [
        "BatchNorm folded into each Conv; /features/features.<i>/Conv_output_0 is the BN "
        "module features.<i+1>'s output; the ReLU outputs are the surviving per-layer values",
        "AdaptiveAvgPool2d((7,7)) on a 7x7 map -> AveragePool(kernel 1, stride 1, no pads "
        "attribute)",
        "one Identity: classifier.3.bias = Identity(classifier.0.bias), both zero-initialised "
        "(initializer deduplication)",
        "Dropout (eval) writes no node; Gemm transB=1 for every Linear",
    ],
    "vgg_tiny": [
        "224x224 input (not 64x64 as in tests/data/vgg_tiny): torch 1.13 exports "
        "AdaptiveAvgPool2d((7,7)) only when 7 divides the feature map, here 7x7 -> "
        "AveragePool(kernel 1, stride 1)",
        "no BatchNorm: initializers keep the torch names (features.0.weight, ...), equal to "
        "model.safetensors",
        "no input gradients here (3 x 600 kB at 224x224): compare gradattr's two loaders "
        "on x.npy directly; the cuts' gradients are given",
    ],
}

if __name__ == "__main__":
    main()
