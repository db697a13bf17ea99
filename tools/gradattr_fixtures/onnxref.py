"""Helpers for the ONNX fixtures (tools/make_onnx_fixtures.py, tools/export_torchvision.py).

- seeded, non-trivial BatchNorm parameters (calibrate_bn),
- torch.onnx.export to bytes with the options gradattr's importer is tested on,
- the mapping "module path (+ call index) -> ONNX value name" for torch 1.13 exports,
- reference gradients of the three score spaces wrt the input and wrt a module output
  (a "cut": every value not depending on that output held fixed),
- a small float64 ONNX evaluator written with torch.nn.functional, used only to
  self-check that an exported file computes the torch logits and that a cut's value
  name really carries that module's output.  It is not a reference for the C++ code
  (the references are the torch forward/backward passes).
"""
import io as _io
import warnings

import numpy as np
import onnx
import onnx.numpy_helper
import torch
import torch.nn as nn
import torch.nn.functional as F

SCORES = ("pre", "post", "log")


def setup_determinism():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


def no_inplace(model):
    """inplace=False on every activation / dropout module (the forward is unchanged;
    cut gradients replace a module output by a leaf, which in-place ops would modify)."""
    for m in model.modules():
        if hasattr(m, "inplace") and isinstance(m.inplace, bool):
            m.inplace = False
    return model


def calibrate_bn(model, x_calib, gen, gamma=(0.6, 1.4), beta_std=0.2,
                 mean_jitter=0.1, var_jitter=0.2):
    """Seeded, non-trivial BatchNorm parameters (so BN is far from identity and a
    folding mistake is visible):
      1. weight ~ U(gamma), bias ~ N(0, beta_std) for every BatchNorm2d, in module order;
      2. running_mean / running_var = statistics of one forward of the calibration batch
         x_calib with only the BN modules in train mode (momentum=None: cumulative
         average = exactly this batch's statistics, unbiased variance);
      3. running_mean += mean_jitter * sqrt(var) * N(0,1),
         running_var *= exp(var_jitter * N(0,1)).
    The model is left in eval mode.  All draws come from the torch.Generator gen."""
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    with torch.no_grad():
        for m in bns:
            c = m.num_features
            m.weight.copy_(gamma[0] + (gamma[1] - gamma[0]) * torch.rand(c, generator=gen))
            m.bias.copy_(beta_std * torch.randn(c, generator=gen))
        model.eval()
        saved = []
        for m in bns:
            saved.append(m.momentum)
            m.reset_running_stats()
            m.momentum = None
            m.train()
        model(x_calib)
        for m, mom in zip(bns, saved):
            m.momentum = mom
            m.eval()
        for m in bns:
            c = m.num_features
            m.running_mean.add_(mean_jitter * m.running_var.sqrt() * torch.randn(c, generator=gen))
            m.running_var.mul_(torch.exp(var_jitter * torch.randn(c, generator=gen)))
    model.eval()
    return model


def scale_head(model, head, x_calib, target_std=2.0):
    """Scale the last Linear so that the logits of the calibration batch have a
    per-image standard deviation over classes of target_std on average."""
    with torch.no_grad():
        z = model(x_calib)
        s = float(z.std(dim=1).mean())
        head.weight.mul_(target_std / s)
        head.bias.mul_(target_std / s)
    return target_std / s


def export_bytes(model, x, opset, dynamic_batch=False):
    """torch.onnx.export with the options of the task; returns the file bytes.
    dynamic_batch: dimension 0 of input and logits is a symbolic "batch" (dynamic_axes)."""
    f = _io.BytesIO()
    dyn = {"input": {0: "batch"}, "logits": {0: "batch"}} if dynamic_batch else None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, x, f, opset_version=opset, do_constant_folding=True,
                          input_names=["input"], output_names=["logits"], dynamic_axes=dyn)
    return f.getvalue()


def op_types(mp):
    return sorted({n.op_type for n in mp.graph.node})


def op_counts(mp):
    out = {}
    for n in mp.graph.node:
        out[n.op_type] = out.get(n.op_type, 0) + 1
    return dict(sorted(out.items()))


# --- module path -> ONNX value name -----------------------------------------

def _unqualified(path):
    """torch.onnx.utils._setup_trace_module_map's scope name of a module: its path from
    the last non-numeric atom on ('layer3.0.relu' -> 'relu', 'layer3.0' -> 'layer3.0',
    'features.6.0.block.0.2' -> 'block.0.2')."""
    atoms = path.split(".")
    for i in reversed(range(len(atoms))):
        if not atoms[i].isnumeric():
            return ".".join(atoms[i:])
    return path


def scope_prefix(module_path, call=0):
    """torch 1.13 names a node '/<s1>/<s2>/.../OpType' where s1, s2, ... are the scope names
    (_unqualified) of the enclosing modules from the root down, e.g. '/layer3/layer3.0/relu/Relu'
    for module layer3.0.relu; the k-th call (k >= 1) of a module called more than once
    within its parent gets the scope name '<name>_k' ('relu', 'relu_1', 'relu_2')."""
    parts = module_path.split(".")
    # every prefix of a module path is the path of an enclosing module
    scopes = [_unqualified(".".join(parts[: i + 1])) for i in range(len(parts))]
    if call:
        scopes[-1] += f"_{call}"
    return "/" + "/".join(scopes) + "/"


def value_of(mp, module_path, call=0):
    """The output of the last node (in file order) whose name starts with the module's
    scope: that is the module's output value in the ONNX file."""
    pre = scope_prefix(module_path, call)
    nodes = [n for n in mp.graph.node if n.name.startswith(pre)]
    if not nodes:
        raise KeyError(f"no node in scope {pre}")
    return nodes[-1].output[0], nodes[-1].name


# --- scores and gradients ------------------------------------------------------

def score(z, c, space):
    if space == "pre":
        return z[:, c]
    if space == "post":
        return F.softmax(z, dim=1)[:, c]
    if space == "log":
        return F.log_softmax(z, dim=1)[:, c]
    raise ValueError(space)


def input_grads(model, x, c):
    """{space: dS/dx} with S = score of class c (batch of 1)."""
    out = {}
    for s in SCORES:
        xx = x.clone().requires_grad_(True)
        (g,) = torch.autograd.grad(score(model(xx), c, s).sum(), xx)
        out[s] = g.detach()
    return out


def get_module(model, path):
    m = model
    for p in path.split("."):
        m = getattr(m, p)
    return m


class _CutHook:
    """Forward hook on one module: on its call number `call` records the output and,
    if replace, substitutes a fresh leaf (so dS/dleaf holds every value not depending
    on that output fixed).  The clone keeps later in-place ops off the leaf."""

    def __init__(self, call, replace):
        self.call, self.replace, self.n = call, replace, 0
        self.act, self.leaf = None, None

    def __call__(self, mod, inp, out):
        k = self.n
        self.n += 1
        if k != self.call:
            return None
        self.act = out.detach().clone()
        if self.replace:
            self.leaf = out.detach().clone().requires_grad_(True)
            return self.leaf.clone()
        return None


def cut_act_and_grads(model, x, module_path, c, call=0):
    """(A, {space: dS/dA}) at the output of module_path's call number `call`."""
    mod = get_module(model, module_path)
    grads = {}
    act = None
    for s in SCORES:
        hook = _CutHook(call, True)
        h = mod.register_forward_hook(hook)
        try:
            z = model(x)
        finally:
            h.remove()
        if hook.leaf is None:
            raise RuntimeError(f"{module_path} call {call} never ran ({hook.n} calls)")
        (g,) = torch.autograd.grad(score(z, c, s).sum(), hook.leaf)
        grads[s] = g.detach()
        act = hook.act
    return act, grads


def module_output(model, x, module_path, call=0):
    mod = get_module(model, module_path)
    hook = _CutHook(call, False)
    h = mod.register_forward_hook(hook)
    try:
        with torch.no_grad():
            model(x)
    finally:
        h.remove()
    return hook.act, hook.n


# --- a small ONNX evaluator (self-check only) -----------------------------------

def _attrs(node):
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _pads(p, k):
    # ONNX pads [b1, b2, ..., e1, e2]; torch F.pad wants (wl, wr, hl, hr)
    n = len(k)
    begin, end = p[:n], p[n:]
    out = []
    for i in reversed(range(n)):
        out += [begin[i], end[i]]
    return out


def evaluate(mp, x, dtype=torch.float64, want=()):
    """Run the graph on x (numpy or torch) in `dtype`; returns (outputs, {name: value}
    for the names in want).  Supports the ops the fixtures contain."""
    env = {}
    for t in mp.graph.initializer:
        a = onnx.numpy_helper.to_array(t)
        env[t.name] = torch.from_numpy(np.array(a)) if a.dtype.kind != "f" else \
            torch.from_numpy(np.array(a, dtype=np.float64)).to(dtype)
    inp = mp.graph.input[0].name
    env[inp] = torch.as_tensor(np.asarray(x, dtype=np.float64)).to(dtype)
    for node in mp.graph.node:
        a = _attrs(node)
        i = [env[n] if n else None for n in node.input]
        op = node.op_type
        if op == "Conv":
            w = i[1]
            k = list(w.shape[2:])
            p = a.get("pads", [0] * 2 * len(k))
            assert a.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET")
            h = F.pad(i[0], _pads(p, k))
            y = F.conv2d(h, w, i[2] if len(i) > 2 else None, stride=a.get("strides", 1),
                         dilation=a.get("dilations", 1), groups=a.get("group", 1))
        elif op == "Relu":
            y = F.relu(i[0])
        elif op == "Clip":
            lo = i[1] if len(i) > 1 and i[1] is not None else None
            hi = i[2] if len(i) > 2 and i[2] is not None else None
            y = i[0]
            if lo is not None:
                y = torch.maximum(y, lo.to(y.dtype))
            if hi is not None:
                y = torch.minimum(y, hi.to(y.dtype))
        elif op == "Sigmoid":
            y = torch.sigmoid(i[0])
        elif op == "Mul":
            y = i[0] * i[1]
        elif op == "Add":
            y = i[0] + i[1]
        elif op == "MaxPool":
            k = a["kernel_shape"]
            assert a.get("storage_order", 0) == 0 and a.get("dilations", [1] * len(k)) == [1] * len(k)
            h = F.pad(i[0], _pads(a.get("pads", [0] * 2 * len(k)), k), value=-float("inf"))
            y = F.max_pool2d(h, k, a.get("strides", k), ceil_mode=bool(a.get("ceil_mode", 0)))
        elif op == "AveragePool":
            k = a["kernel_shape"]
            p = a.get("pads", [0] * 2 * len(k))
            assert p == [0] * len(p) or a.get("count_include_pad", 0) == 1
            h = F.pad(i[0], _pads(p, k))
            y = F.avg_pool2d(h, k, a.get("strides", k), ceil_mode=bool(a.get("ceil_mode", 0)))
        elif op == "GlobalAveragePool":
            y = i[0].mean(dim=(2, 3), keepdim=True)
        elif op == "Flatten":
            ax = a.get("axis", 1)
            y = i[0].reshape(int(np.prod(i[0].shape[:ax])), -1)
        elif op == "Reshape":
            shape = [int(v) for v in i[1].tolist()]
            shape = [i[0].shape[j] if s == 0 else s for j, s in enumerate(shape)]
            y = i[0].reshape(shape)
        elif op == "Gemm":
            A = i[0].t() if a.get("transA", 0) else i[0]
            B = i[1].t() if a.get("transB", 0) else i[1]
            y = a.get("alpha", 1.0) * (A @ B)
            if len(i) > 2 and i[2] is not None:
                y = y + a.get("beta", 1.0) * i[2]
        elif op == "MatMul":
            y = i[0] @ i[1]
        elif op == "Concat":
            y = torch.cat(i, dim=a["axis"])
        elif op == "BatchNormalization":
            X, sc, b, m, v = i
            eps = a.get("epsilon", 1e-5)
            sh = (1, -1, 1, 1)
            y = (X - m.view(sh)) / torch.sqrt(v.view(sh) + eps) * sc.view(sh) + b.view(sh)
        elif op == "Pad":
            mode = a.get("mode", b"constant")
            assert mode in (b"constant", "constant"), mode
            p = [int(v) for v in i[1].tolist()]
            val = float(i[2]) if len(i) > 2 and i[2] is not None else 0.0
            r = i[0].dim()
            tp = []
            for d in reversed(range(r)):
                tp += [p[d], p[d + r]]
            y = F.pad(i[0], tp, value=val)
        elif op == "Identity":
            y = i[0]
        elif op == "Constant":
            y = torch.from_numpy(np.array(onnx.numpy_helper.to_array(a["value"])))
            if y.dtype.is_floating_point:
                y = y.to(dtype)
        else:
            raise NotImplementedError(f"evaluate: op {op} ({node.name})")
        env[node.output[0]] = y
    outs = [env[o.name] for o in mp.graph.output]
    return outs, {n: env[n] for n in want}
