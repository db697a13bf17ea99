"""The tiny VGG19-layout model shared by the fixture scripts.

Layout: torchvision.models.vgg.VGG(make_layers(cfg "E" with every width / 16)),
classifier replaced by Linear(32*7*7, 64) - ReLU - Dropout - Linear(64, 64) -
ReLU - Dropout - Linear(64, 10), keeping torchvision's indices
classifier.0 / .3 / .6.  Weights are seeded (torch.manual_seed(0)), rounded to
float32 once, and the float64 reference model holds exactly those float32
values (so the F32 file upcast to double == the F64 file, bit for bit).
"""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.vgg import VGG, make_layers

CFG_E16 = [4, 4, "M", 8, 8, "M", 16, 16, 16, 16, "M",
           32, 32, 32, 32, "M", 32, 32, 32, 32, "M"]
NUM_CLASSES = 10
HIDDEN = 64
INPUT_HW = 64
BATCH = 2
LAYER = "features.35"          # ReLU after the last conv (before the last pool)
LAYER_INDEX = 35

# Initialisation constants (documented in tests/data/vgg_tiny/README.md)
CONV_BIAS_STD = 0.05
LINEAR_BIAS_STD = 0.05
# Candidate scales for the last Linear layer, tried in order; the first one
# that puts every image's top-class probability in [0.3, 0.95] is kept.
FINAL_SCALES = [1.0, 0.75, 1.5, 0.5, 2.0]


def setup_determinism():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)


CALIB_SEED = 123
CALIB_N = 32


def _build(final_scale):
    """Seeded weights.

    1. torch.manual_seed(0); He-normal (fan_in, gain sqrt 2) conv weights,
       N(0, 0.05) conv biases; Linear weights N(0, 2/fan_in), biases N(0, 0.05).
    2. Data-dependent rescale (LSUV-like; equivalent to folding a BatchNorm
       computed on CALIB_N=32 seeded N(0,1) calibration images, generator seed
       CALIB_SEED=123): for every conv / hidden Linear, in order, the
       pre-activation u on the calibration batch is standardised per output
       channel: W <- W / sd(u), b <- (b - mean(u)) / sd(u) + N(0, 0.05).
       Without this a 16-conv random ReLU net maps every input to nearly the
       same logits.  The last Linear is scaled by final_scale / mean_sd so the
       logits spread a few units.  All biases end up nonzero.
    3. Everything is rounded to float32 values once.
    """
    torch.manual_seed(0)
    model = VGG(make_layers(CFG_E16, batch_norm=False),
                num_classes=NUM_CLASSES, init_weights=False)
    model.classifier = nn.Sequential(
        nn.Linear(32 * 7 * 7, HIDDEN), nn.ReLU(True), nn.Dropout(),
        nn.Linear(HIDDEN, HIDDEN), nn.ReLU(True), nn.Dropout(),
        nn.Linear(HIDDEN, NUM_CLASSES),
    )
    # no in-place ReLUs: we cut the network at a ReLU output and differentiate
    for seq in (model.features, model.classifier):
        for m in seq:
            if isinstance(m, nn.ReLU):
                m.inplace = False
    model.eval()
    with torch.no_grad():
        for m in model.features:
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")
                m.bias.normal_(0.0, CONV_BIAS_STD)
        lin = [m for m in model.classifier if isinstance(m, nn.Linear)]
        for m in lin:
            m.weight.normal_(0.0, (2.0 / m.weight.shape[1]) ** 0.5)
            m.bias.normal_(0.0, LINEAR_BIAS_STD)

        g = torch.Generator().manual_seed(CALIB_SEED)
        h = torch.randn(CALIB_N, 3, INPUT_HW, INPUT_HW, generator=g)
        for m in model.features:
            if isinstance(m, nn.Conv2d):
                u = m(h)
                mu, sd = u.mean((0, 2, 3)), u.std((0, 2, 3))
                m.weight.div_(sd[:, None, None, None])
                m.bias.copy_((m.bias - mu) / sd
                             + torch.randn(mu.shape, generator=g) * CONV_BIAS_STD)
            h = m(h)
        h = torch.flatten(model.avgpool(h), 1)
        for m in model.classifier:
            if isinstance(m, nn.Linear):
                u = m(h)
                mu, sd = u.mean(0), u.std(0)
                if m is lin[-1]:
                    sd = sd.mean().expand_as(sd) / final_scale
                m.weight.div_(sd[:, None])
                m.bias.copy_((m.bias - mu) / sd
                             + torch.randn(mu.shape, generator=g) * LINEAR_BIAS_STD)
            h = m(h)
    # parameters are float32 here; .double() later is exact
    return model


def make_inputs():
    """Two N(0,1) images [2,3,64,64], rounded to float32 values; returned as float64."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(BATCH, 3, INPUT_HW, INPUT_HW, generator=g, dtype=torch.float32)
    return x.double()


def build_model(verbose=False):
    """Returns (model in float64, eval mode; final_scale used)."""
    x = make_inputs()
    for s in FINAL_SCALES:
        model = _build(s).double()
        with torch.no_grad():
            y = torch.softmax(model(x), dim=1)
        top = y.max(dim=1).values
        if verbose:
            print(f"final_scale={s}: top y_c = {top.tolist()}")
        if bool(((top >= 0.3) & (top <= 0.95)).all()):
            return model, s
    raise RuntimeError("no final scale gives 0.3 <= y_c <= 0.95")


def state_dict_items(model, dtype):
    """(torchvision name, numpy array) in torchvision order, in the given dtype."""
    return [(k, v.detach().cpu().numpy().astype(dtype))
            for k, v in model.state_dict().items()]


# --- split forward -----------------------------------------------------------

def forward_until(model, x, idx=LAYER_INDEX):
    """Activation at features.<idx> (output of that module)."""
    return model.features[: idx + 1](x)


def forward_from(model, a, idx=LAYER_INDEX):
    """The rest of the network from the output of features.<idx> to the logits."""
    h = model.features[idx + 1 :](a)
    h = model.avgpool(h)
    h = torch.flatten(h, 1)
    return model.classifier(h)


# --- score spaces (METHODS.md section 1) ------------------------------------

SCORES = ("pre", "post", "log")


def score_per_image(z, classes, space):
    """S_n for each image n: z_c, softmax(z)_c, log_softmax(z)_c (max-subtracted) or z_c - mean_j z_j."""
    c = classes.view(-1, 1)
    if space == "pre":
        return z.gather(1, c)[:, 0]
    if space == "log":
        return F.log_softmax(z, dim=1).gather(1, c)[:, 0]
    if space == "post":
        return F.softmax(z, dim=1).gather(1, c)[:, 0]
    if space == "centered":   # z_c - (1/n) sum_j z_j (not in SCORES: make_variant_fixtures.py)
        return z.gather(1, c)[:, 0] - z.mean(dim=1)
    raise ValueError(space)


def top_classes(z):
    return z.argmax(dim=1)


def other_classes(z):
    """The fixed non-top class per image: the class with the 3rd-largest logit."""
    return torch.argsort(z, dim=1, descending=True)[:, 2]


# --- gradients ---------------------------------------------------------------

def layer_act_and_grad(model, x, classes, space, idx=LAYER_INDEX, head=None):
    """A = features.<idx>(x) and g = dS/dA with S = sum_n S_n (each image its class).

    head(a) -> logits can replace forward_from (used for the shifted twin).
    Returns (A, g, z, S_n) all detached, float64.
    """
    with torch.no_grad():
        a0 = forward_until(model, x, idx)
    a = a0.clone().requires_grad_(True)
    z = (head or (lambda t: forward_from(model, t, idx)))(a)
    s = score_per_image(z, classes, space)
    (g,) = torch.autograd.grad(s.sum(), a)
    return a.detach(), g.detach(), z.detach(), s.detach()


def input_grad(model, x, classes, space):
    """dS/dx with S = sum_n S_n.  Returns (grad, z, S_n)."""
    xx = x.clone().requires_grad_(True)
    z = model(xx)
    s = score_per_image(z, classes, space)
    (g,) = torch.autograd.grad(s.sum(), xx)
    return g.detach(), z.detach(), s.detach()
