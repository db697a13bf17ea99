#pragma once
// Internals shared by the attribution functors: a non-owning view of a Classifier of scalar type
// T (so that `GradCam<Post> cam(model, layer)` needs no model type argument), input checks, the
// recorded head pass, filling an Attribution's score fields, and the pass at x that combines them.
//
// ClassifierRef keeps a pointer to the model: the model must outlive every functor made from
// it (constructing a method from a temporary model does not compile). Every call makes its own
// tape and buffers, so one const functor (and one const model) may serve several threads at once.
#include <cmath>
#include <concepts>
#include <cstdint>
#include <functional>
#include <string>
#include <type_traits>
#include <vector>

#include "gradattr/attribution/result.hpp"
#include "gradattr/attribution/detail/tokens.hpp"
#include "gradattr/attribution/target.hpp"
#include "gradattr/autodiff/grad.hpp"
#include "gradattr/autodiff/tape.hpp"
#include "gradattr/autodiff/var.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/models/classifier.hpp"
#include "gradattr/score/evaluate.hpp"
#include "gradattr/score/score_space.hpp"

namespace gradattr {

// Progress of a long run: done out of total units (path points, masked forwards, samples).
using ProgressCallback = std::function<void(std::size_t done, std::size_t total)>;

// The layer a CAM method uses when none is given: the model's `default_cam_layer()` if it has
// one, else resolve_layer("last_conv") (an alias the VGG models provide for their last feature
// layer). ArgumentError (from the model) when neither exists.
template <models::Classifier M>
std::string default_cam_layer(const M& model) {
  if constexpr (requires { { model.default_cam_layer() } -> std::convertible_to<std::string>; })
    return model.default_cam_layer();
  else
    return model.resolve_layer("last_conv");
}

namespace attr_detail {

// A non-owning view of a Classifier whose scalar type is T: three function pointers and the
// model's address. The model must outlive the view (method classes refuse temporaries).
// It is also the one place where a token layer becomes an image (detail/tokens.hpp): its
// forward_until folds a cut at [N, 1 + s*s, D] into [N, D, s, s], its forward_from unfolds it,
// so every method sees a spatial layer and the model sees its own tokens.
template <class T>
class ClassifierRef {
 public:
  template <models::Classifier M>
    requires std::same_as<typename M::scalar_type, T>
  explicit ClassifierRef(const M& m) : model_(&m), num_classes_(static_cast<std::int64_t>(m.num_classes())) {
    forward_ = [](const void* p, const Tensor<T>& x) { return static_cast<const M*>(p)->forward(x); };
    forward_until_ = [](const void* p, const Tensor<T>& x, const std::string& l) {
      return static_cast<const M*>(p)->forward_until(x, l);
    };
    forward_from_ = [](const void* p, const models::Cut<T>& c, ad::Tape<T>& t) {
      return static_cast<const M*>(p)->forward_from(c, t);
    };
    attention_layers_ = [](const void* p) { return nn::attention_layers(*static_cast<const M*>(p)); };
    forward_tracked_ = [](const void* p, const Tensor<T>& x, const std::vector<std::string>& l, ad::Tape<T>& t, bool track) {
      return nn::forward_tracked(*static_cast<const M*>(p), x, l, t, track);
    };
  }

  std::int64_t num_classes() const noexcept { return num_classes_; }
  Tensor<T> forward(const Tensor<T>& x) const { return forward_(model_, x); }
  models::Cut<T> forward_until(const Tensor<T>& x, const std::string& layer) const {
    return fold_tokens(forward_until_(model_, x, layer));
  }
  ad::Var<T> forward_from(const models::Cut<T>& cut, ad::Tape<T>& tape) const {
    return forward_from_(model_, unfold_tokens(cut), tape);
  }
  // The optional members (nn/classifier.hpp), for the attention methods.
  std::vector<std::string> attention_layers() const { return attention_layers_(model_); }
  nn::Tracked<T> forward_tracked(const Tensor<T>& x, const std::vector<std::string>& layers, ad::Tape<T>& tape,
                                 bool track) const {
    return forward_tracked_(model_, x, layers, tape, track);
  }

 private:
  const void* model_;
  std::int64_t num_classes_;
  Tensor<T> (*forward_)(const void*, const Tensor<T>&) = nullptr;
  models::Cut<T> (*forward_until_)(const void*, const Tensor<T>&, const std::string&) = nullptr;
  ad::Var<T> (*forward_from_)(const void*, const models::Cut<T>&, ad::Tape<T>&) = nullptr;
  std::vector<std::string> (*attention_layers_)(const void*) = nullptr;
  nn::Tracked<T> (*forward_tracked_)(const void*, const Tensor<T>&, const std::vector<std::string>&, ad::Tape<T>&,
                                     bool) = nullptr;
};

// x must be a non-empty [N, C, H, W] batch; with check_finite, no NaN or infinity.
template <class T>
void check_input(const Tensor<T>& x, bool check_finite, const std::string& who) {
  if (x.empty() || x.rank() != 4 || x.dim(0) < 1)
    throw ShapeError(who + ": the input must be a non-empty [N, C, H, W] batch, got " + x.shape().str());
  if (!check_finite) return;
  for (std::int64_t i = 0; i < x.numel(); ++i)
    if (!std::isfinite(x[i]))
      throw ArgumentError(who + ": the input has a non-finite value (" + std::to_string(static_cast<double>(x[i])) +
                          ") in image " + std::to_string(i / x.shape().stride(0)) +
                          " (pass Options{.check_finite = false} to skip this check)");
}

template <class T>
void check_spatial(const Tensor<T>& A, const std::string& layer, const std::string& who) {
  if (A.rank() != 4 || A.dim(2) < 1 || A.dim(3) < 1)
    throw ArgumentError(who + ": layer '" + layer + "' has no spatial dimensions (its activation is " + A.shape().str() +
                        "); CAM methods need an [N, K, H, W] layer");
}

template <class T>
void check_baseline(const Tensor<T>& baseline, const Tensor<T>& x, const std::string& who) {
  if (baseline.empty()) return;
  const bool one = baseline.rank() == 4 && baseline.dim(0) == 1 && baseline.dim(1) == x.dim(1) &&
                   baseline.dim(2) == x.dim(2) && baseline.dim(3) == x.dim(3);
  if (baseline.shape() != x.shape() && !one)
    throw ShapeError(who + ": baseline " + baseline.shape().str() + " does not match the input " + x.shape().str() +
                     " (give [N, C, H, W] or [1, C, H, W])");
}

// The baseline batch x′ [N, C, H, W]: the zero tensor when none was given, the baseline itself
// when it is [N, C, H, W], else the [1, C, H, W] baseline copied once per image.
template <class T>
Tensor<T> baseline_batch(const Tensor<T>& baseline, const Tensor<T>& x) {
  if (baseline.empty()) return Tensor<T>(x.shape());
  if (baseline.shape() == x.shape()) return baseline;
  auto b = Tensor<T>::uninitialized(x.shape());
  const auto P = x.shape().stride(0);
  for (std::int64_t n = 0; n < x.dim(0); ++n) std::copy(baseline.begin(), baseline.end(), b.data() + n * P);
  return b;
}

// One recorded head pass from a cut (an activation batch A [R, ...] at a layer, with the values it
// carries): the logits, the gradient of each row's own score with respect to A, and each row's
// score. classes_of(z) gives each row's class (and may resolve the target from the logits first).
template <class T>
struct HeadPass {
  Tensor<T> z;      // [R, C]
  Tensor<T> g;      // ∂S/∂A, A's shape
  Tensor<T> score;  // [R]
};

template <class T, class Score, class ClassesOf>
HeadPass<T> head_pass(const ClassifierRef<T>& model, const models::Cut<T>& cut, const Score& policy,
                      ClassesOf&& classes_of) {
  ad::Tape<T> tape;
  const Tensor<T>& A = cut.activation.value();
  const ad::Var<T> a = tape.variable(A);
  const ad::Var<T> z = model.forward_from(cut.with_activation(a), tape);
  if (z.shape().rank() != 2 || z.shape()[0] != A.dim(0))
    throw ShapeError("attribution: the model's logits " + z.shape().str() + " do not match the batch " + A.shape().str());
  const std::vector<std::int64_t> classes = classes_of(z.value());
  HeadPass<T> r;
  r.z = z.value();
  r.score = policy.score(z.value(), classes);
  const Tensor<T> seed = policy.seed(z.value(), classes);
  if (z.tracked())
    r.g = ad::grad_once(tape, z, {a}, seed)[0];  // the tape is used once: free as we go
  else
    r.g = Tensor<T>(A.shape());  // the logits do not depend on A
  return r;
}

// The cut at `layer` for the input x (nothing recorded); x itself for the pseudo-layer "input".
// CAM methods (spatial = true) need its activation to be [N, K, H, W].
template <class T>
models::Cut<T> cut_at(const ClassifierRef<T>& model, const std::string& layer, const Tensor<T>& x, bool spatial,
                      const std::string& who) {
  if (layer == models::kInputLayer) return models::input_cut(ad::Var<T>(x));
  models::Cut<T> c = model.forward_until(x, layer);
  if (spatial) check_spatial(c.activation.value(), layer, who);
  return c;
}

// Logits from a cut, nothing recorded (a head-only forward).
template <class T>
Tensor<T> head_forward(const ClassifierRef<T>& model, const models::Cut<T>& cut) {
  ad::Tape<T> tape;
  return model.forward_from(cut, tape).value();
}

// ‖·‖₂ of each image's slice.
template <class T>
std::vector<double> row_norms(const Tensor<T>& g) {
  const auto N = g.dim(0), P = g.shape().stride(0);
  std::vector<double> out(static_cast<std::size_t>(N));
  for (std::int64_t n = 0; n < N; ++n) {
    double s = 0;
    for (std::int64_t i = 0; i < P; ++i) s += static_cast<double>(g[n * P + i]) * static_cast<double>(g[n * P + i]);
    out[static_cast<std::size_t>(n)] = std::sqrt(s);
  }
  return out;
}

// Fills method, policy, layer, classes, S, y_c, z_c, saturation and the warning from the
// logits at x.
template <class T, class Score>
void fill_scores(Attribution<T>& r, const Score& policy, const Tensor<T>& z, const std::vector<std::int64_t>& classes,
                 std::string method, std::string layer) {
  const auto rep = score::evaluate_score(policy, z, classes);
  r.method = std::move(method);
  r.score_space = std::string(Score::name);
  r.layer = std::move(layer);
  r.classes = classes;
  r.score = rep.score;
  r.probability = rep.probability;
  r.logit = rep.logit;
  r.saturated = rep.saturated;
  std::string which;
  for (std::size_t n = 0; n < rep.saturated.size(); ++n)
    if (rep.saturated[n]) which += (which.empty() ? "" : ", ") + std::to_string(n);
  if (!which.empty())
    r.warning = "saturated softmax (" + score::saturation_rule() + ") for image(s) " + which +
                ": post/log gradients there are mostly rounding error";
}

// The pass at x that every gradient method starts with: the cut at `layer` (x itself for the
// pseudo-layer "input"), one recorded head pass there with the target resolved from its logits,
// and r's score fields filled from those logits (fill_scores).
template <class T>
struct PassAtX {
  models::Cut<T> cut;                 // the cut at the layer (its activation A)
  HeadPass<T> head;                   // logits, ∂S/∂A and S at x
  std::vector<std::int64_t> classes;  // the resolved target, one class per image

  const Tensor<T>& A() const noexcept { return cut.activation.value(); }
};

template <class T, class Score>
PassAtX<T> pass_at_x(Attribution<T>& r, const ClassifierRef<T>& model, const std::string& layer, const Tensor<T>& x,
                     const Score& policy, const Target& target, const std::string& who) {
  PassAtX<T> p;
  p.cut = cut_at(model, layer, x, /*spatial=*/true, who);
  p.head = head_pass(model, p.cut, policy, [&](const Tensor<T>& z) {
    p.classes = target.resolve(z, who);
    return p.classes;
  });
  fill_scores(r, policy, p.head.z, p.classes, who, layer);
  return p;
}

// Repeats each image's class for `reps` consecutive blocks of N rows: row r -> classes[r % N].
inline std::vector<std::int64_t> tile_classes(const std::vector<std::int64_t>& classes, std::int64_t rows) {
  std::vector<std::int64_t> out(static_cast<std::size_t>(rows));
  const auto N = static_cast<std::int64_t>(classes.size());
  for (std::int64_t r = 0; r < rows; ++r) out[static_cast<std::size_t>(r)] = classes[static_cast<std::size_t>(r % N)];
  return out;
}

// Stacks tensors of shape [n_i, ...] along dimension 0.
template <class T>
Tensor<T> concat_rows(const std::vector<Tensor<T>>& parts) {
  std::int64_t rows = 0;
  for (const auto& p : parts) rows += p.dim(0);
  Shape s;
  s.push(rows);
  for (int i = 1; i < parts.front().rank(); ++i) s.push(parts.front().dim(i));
  auto out = Tensor<T>::uninitialized(s);
  T* o = out.data();
  for (const auto& p : parts) o = std::copy(p.begin(), p.end(), o);
  return out;
}

inline void require_positive(std::int64_t v, const char* what, const std::string& who) {
  if (v < 1) throw ArgumentError(who + ": " + what + " must be at least 1, got " + std::to_string(v));
}

}  // namespace attr_detail
}  // namespace gradattr
