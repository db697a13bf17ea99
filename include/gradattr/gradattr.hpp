#pragma once
// gradattr — gradient-based attribution for image classifiers, header-only C++20.
//
// The question it settles with evidence: take the gradient of the pre-softmax logit (Pre), the
// post-softmax probability (Post) or the log-softmax (LogSoftmax)? Every method is a class
// template on a score-space policy, so the question is one type change away.
//
// A tour, bottom to top (docs/architecture.md has the why):
//
//   core/         Tensor<T> (aligned, NCHW, shared buffer), Shape, the Error hierarchy
//                 (ShapeError, IoError, FormatError, ArgumentError), parallel_for.
//   kernels/      conv2d, max-pool, linear, relu, softmax...: noexcept free functions; float runs
//                 the fast path (xsimd + OpenMP, Winograd F(4x4,3x3) for VGG's convolutions),
//                 double the scalar reference in kernels/reference/.
//   autodiff/     ad::Tape<T>, ad::Var<T>, ops that record only when an input is tracked,
//                 ad::grad(tape, out, targets, seed) along the marked path only, ad::gradcheck.
//   nn/, models/  layers, Sequential with named cut points; the VGG family in torchvision layout;
//                 models::vgg_from_safetensors (torchvision or timm names); models::shifted(...)
//                 (the "equivalent model" of the vulnerability paper); cross-entropy, SGD, Adam;
//                 models::AnyClassifier (any model behind one type).
//   graph/        GraphModel<T>: any CNN as a graph of these ops (docs/models.md); ONNX files load
//                 through gradattr/onnx/load.hpp, which is NOT included here (link gradattr::onnx).
//   io/           safetensors, NPY, PNG/JPEG (hardened stb), ImageNet preprocessing, IDX.
//   score/        Pre, Post, LogSoftmax, Contrast and the ScoreSpace concept for your own.
//   attribution/  GradCam, GradCamPlus, GradCamPlusPlus, HiResCam, XGradCam, LayerCam, ScoreCam,
//                 RsiGradCam, IntegratedGradCam, Saliency, InputXGradient, IntegratedGradients,
//                 SmoothGrad; Attribution<T> results; run_method() to choose at run time.
//   metrics/      Spearman, Pearson, top-k IoU, deletion/insertion, the equivalent-model audit,
//                 paired statistics (bootstrap CIs, Wilcoxon signed-rank, Holm).
//   viz/          colormaps, overlays, labelled panels.
//
// Five lines:
//
//   auto model = gradattr::models::vgg_from_safetensors<float>("vgg19.safetensors");
//   auto x = gradattr::io::preprocess(gradattr::io::read_image("cat.jpg"));   // [1,3,224,224]
//   gradattr::GradCam<gradattr::Post> cam(model, "features.35");
//   gradattr::Attribution<float> r = cam(x);            // top class; r.raw is [1,14,14], signed
//   auto heat = r.displayed(224, 224);                  // ReLU, upsample, min-max
//
// Link gradattr::gradattr (and gradattr::native for -march=native speed) from CMake.
#include "gradattr/attribution/cam_maths.hpp"
#include "gradattr/attribution/display.hpp"
#include "gradattr/attribution/gradient_cams.hpp"
#include "gradattr/attribution/input_methods.hpp"
#include "gradattr/attribution/methods.hpp"
#include "gradattr/attribution/path_cams.hpp"
#include "gradattr/attribution/result.hpp"
#include "gradattr/attribution/rsi_accumulator.hpp"
#include "gradattr/attribution/runtime.hpp"
#include "gradattr/attribution/score_cam.hpp"
#include "gradattr/attribution/score_cam_maths.hpp"
#include "gradattr/attribution/target.hpp"
#include "gradattr/autodiff/autodiff.hpp"
#include "gradattr/autodiff/backward_context.hpp"
#include "gradattr/autodiff/grad.hpp"
#include "gradattr/autodiff/gradcheck.hpp"
#include "gradattr/autodiff/ops.hpp"
#include "gradattr/autodiff/tape.hpp"
#include "gradattr/autodiff/var.hpp"
#include "gradattr/core/aligned.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/core/parallel.hpp"
#include "gradattr/core/shape.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/graph/graph_def.hpp"
#include "gradattr/graph/graph_model.hpp"
#include "gradattr/graph/module_paths.hpp"
#include "gradattr/graph/passes.hpp"
#include "gradattr/io/idx.hpp"
#include "gradattr/io/image.hpp"
#include "gradattr/io/npy.hpp"
#include "gradattr/io/preprocess.hpp"
#include "gradattr/io/safetensors.hpp"
#include "gradattr/kernels/activation.hpp"
#include "gradattr/kernels/blocked.hpp"
#include "gradattr/kernels/call_counts.hpp"
#include "gradattr/kernels/conv2d.hpp"
#include "gradattr/kernels/dense.hpp"
#include "gradattr/kernels/params.hpp"
#include "gradattr/kernels/pool.hpp"
#include "gradattr/kernels/softmax.hpp"
#include "gradattr/kernels/upsample.hpp"
#include "gradattr/metrics/agreement.hpp"
#include "gradattr/metrics/audit.hpp"
#include "gradattr/metrics/deletion.hpp"
#include "gradattr/metrics/information_gain.hpp"
#include "gradattr/metrics/stats.hpp"
#include "gradattr/models/any_classifier.hpp"
#include "gradattr/models/classifier.hpp"
#include "gradattr/models/equivalent.hpp"
#include "gradattr/models/vgg.hpp"
#include "gradattr/models/vgg_safetensors.hpp"
#include "gradattr/nn/context.hpp"
#include "gradattr/nn/init.hpp"
#include "gradattr/nn/layers.hpp"
#include "gradattr/nn/loss.hpp"
#include "gradattr/nn/optim.hpp"
#include "gradattr/nn/sequential.hpp"
#include "gradattr/score/evaluate.hpp"
#include "gradattr/score/policies.hpp"
#include "gradattr/score/runtime.hpp"
#include "gradattr/score/score_space.hpp"
#include "gradattr/viz/colormap.hpp"
#include "gradattr/viz/overlay.hpp"
#include "gradattr/viz/panel.hpp"
