#pragma once
// The straight path x_m = x′ + (m/M)(x − x′), the checks of its arguments, and its batched
// evaluation, shared by the path methods (RSI Grad-CAM, Integrated Grad-CAM, Integrated Gradients).
//
// Batching: the points of the path are evaluated several at a time: ⌊batch_size / N⌋ points
// (at least one) per model call, each point contributing its N images as consecutive rows, so
// a chunk is one forward_until over [P·N, C, H, W] and one recorded head pass with every row
// seeded by its own image's class. Rows never interact, so every row's gradient is its own.
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "gradattr/attribution/detail/engine.hpp"

namespace gradattr::attr_detail {

// x_m for image batch x and baseline batch xb (both [N, C, H, W]); m = M gives x exactly and
// m = 0 gives x′ exactly.
template <class T>
Tensor<T> path_point(const Tensor<T>& x, const Tensor<T>& xb, std::int64_t m, std::int64_t M) {
  if (m == M) return x;
  if (m == 0) return xb;
  const double a = static_cast<double>(m) / static_cast<double>(M);
  auto out = Tensor<T>::uninitialized(x.shape());
  for (std::int64_t i = 0; i < x.numel(); ++i) {
    const double b = xb[i];
    out[i] = static_cast<T>(b + a * (static_cast<double>(x[i]) - b));  // x′ + (m/M)(x − x′)
  }
  return out;
}

// A path method's argument checks, in this order: the input, steps and batch_size (at least 1),
// then the baseline — the call's if given, else Options::baseline; [N, C, H, W] or
// [1, C, H, W]; finite unless check_finite is off. Returns the baseline batch x′ [N, C, H, W]
// (zero when none is given).
template <class T, class Options>
Tensor<T> checked_path_baseline(const Tensor<T>& x, const Tensor<T>* baseline, const Options& options,
                                const std::string& who) {
  check_input(x, options.check_finite, who);
  require_positive(options.steps, "steps", who);
  require_positive(options.batch_size, "batch_size", who);
  const Tensor<T> b = baseline ? *baseline : options.baseline;
  check_baseline(b, x, who);
  Tensor<T> xb = baseline_batch(b, x);
  if (options.check_finite) check_input(xb, true, who + " (baseline)");
  return xb;
}

struct Progress {
  const ProgressCallback* callback = nullptr;
  std::size_t done = 0, total = 0;
  void tick() {
    ++done;
    if (callback && *callback) (*callback)(done, total);
  }
};

inline std::int64_t points_per_chunk(std::int64_t batch_size, std::int64_t N) {
  return std::max<std::int64_t>(1, batch_size / N);
}
inline std::size_t chunk_count(std::size_t points, std::int64_t per_chunk) {
  return (points + static_cast<std::size_t>(per_chunk) - 1) / static_cast<std::size_t>(per_chunk);
}

// Progress for the model calls of evaluate_points over `points` points of N images each, in
// chunks of Options::batch_size rows, plus `extra` calls the caller makes and ticks itself.
template <class Options>
Progress chunked_progress(const Options& options, std::size_t points, std::int64_t N, std::size_t extra = 0) {
  return {&options.progress, 0, chunk_count(points, points_per_chunk(options.batch_size, N)) + extra};
}

// Evaluates the points `ms` (in the given order) at `layer`: for each point m, calls
// visit(m, A_m [N,...], g_m [N,...], S_m [N]) in the order of `ms`. The input of each point is
// make_input(m) ([N, C, H, W]). classes: one per image; when it is empty, the first point
// must be x itself: the classes are then resolved from its logits (`target`) before any
// backward pass, and those logits are returned in *z_first — so x is evaluated once.
template <class T, class Score, class MakeInput, class Visit>
void evaluate_points(const ClassifierRef<T>& model, const std::string& layer, const std::vector<std::int64_t>& ms,
                     std::int64_t N, std::vector<std::int64_t>& classes, const Score& policy,
                     std::int64_t batch_size, Progress& progress, MakeInput&& make_input, Visit&& visit,
                     const Target* target = nullptr, const std::string& who = {}, Tensor<T>* z_first = nullptr) {
  const std::int64_t per = points_per_chunk(batch_size, N);
  for (std::size_t i0 = 0; i0 < ms.size(); i0 += static_cast<std::size_t>(per)) {
    const std::size_t i1 = std::min(ms.size(), i0 + static_cast<std::size_t>(per));
    std::vector<Tensor<T>> inputs;
    for (std::size_t i = i0; i < i1; ++i) inputs.push_back(make_input(ms[i]));
    const Tensor<T> xin = inputs.size() == 1 ? inputs[0] : concat_rows(inputs);
    inputs.clear();
    const models::Cut<T> cut = cut_at(model, layer, xin, /*spatial=*/false, who);
    const Tensor<T>& A = cut.activation.value();
    const auto rows = A.dim(0);
    auto head = head_pass(model, cut, policy, [&](const Tensor<T>& z) {
      if (classes.empty()) {
        const Tensor<T> zx = z.slice_batch(0, N).clone();
        classes = target->resolve(zx, who);
        if (z_first) *z_first = zx;
      }
      return tile_classes(classes, rows);
    });
    for (std::size_t i = i0; i < i1; ++i) {
      const auto r0 = static_cast<std::int64_t>(i - i0) * N;
      visit(ms[i], A.slice_batch(r0, N), head.g.slice_batch(r0, N), head.score.slice_batch(r0, N));
    }
    progress.tick();
  }
}

}  // namespace gradattr::attr_detail
