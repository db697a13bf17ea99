"""Independent Python/PyTorch references for gradattr's C++ tests.

Everything here is written from /work/shared/METHODS.md (docs/methods), never
from the C++ sources.  Modules:

  io       -- safetensors writer (hand-written, no `safetensors` package) and
              NPY helpers (numpy's np.save, C order, float32/float64/int64).
  tinyvgg  -- the narrow VGG19-layout model, its seeded weights and inputs,
              the score spaces (Pre / Post / LogSoftmax) and the split
              forward (up to a named layer / from it).
  onnxref  -- ONNX fixtures: seeded non-trivial BatchNorm, the export call,
              module path -> ONNX value name (torch 1.13), input and cut
              gradients via forward hooks, a small self-check evaluator.
"""
