#pragma once
// ROAD: RemOve And Debias (Rong, Leemann, Borisov, Kasneci & Kasneci, "A Consistent and Efficient
// Evaluation Strategy for Attribution Methods", ICML 2022; docs/methods.md §5). Instead of
// painting removed pixels black (deletion/insertion, metrics/deletion.hpp), which leaks the
// shape of the removed region and favours maps that point at bright pixels on a black
// background, ROAD fills them by *noisy linear imputation* and measures the class score after
// removing a fraction of the pixels, in two orders:
//   MoRF  most relevant first  (a faithful map makes the score fall fast: lower is better);
//   LeRF  least relevant first (a faithful map keeps the score: higher is better).
//
// Noisy linear imputation (the authors' road/imputations.py, NoisyLinearImputer): every removed
// pixel p takes the weighted mean of its 8 neighbours inside the image,
//     x_p = Σ_{q ∈ N(p)} w_pq x_q / Σ_{q ∈ N(p)} w_pq,   w = 1/6 (4 direct), 1/12 (4 diagonal),
// where neighbours that are themselves removed are unknowns too: one sparse linear system for all
// removed pixels of a channel, (Σ_q w_pq) x_p − Σ_{q removed} w_pq x_q = Σ_{q kept} w_pq x_q.
// The matrix is symmetric (w_pq = w_qp) and, when at least one pixel is kept, an irreducibly
// diagonally dominant M-matrix on each connected group of removed pixels, hence positive
// definite: it is solved with Eigen's sparse Cholesky (SimplicialLDLT). Then Gaussian noise of
// standard deviation `noise` (absolute, the authors' default 0.01; the images here are in [0, 1])
// is added to every imputed value, drawn from std::mt19937_64(seed) in (channel, pixel) order.
//
//   auto xi = metrics::noisy_linear_impute(x, removed, {.noise = 0.01, .seed = 7});
//   auto r  = metrics::road_curve(ScoreKind::Post, model, x, map, RoadOrder::MoRF, {0.1, ..., 0.9});
//   r.scores[k], r.correct[k] (top class still c), r.area (mean of r.scores)
//
// Masks: `removed` [H, W] (also [1, H, W]) with 1 = removed, 0 = kept (any non-zero = removed).
// road_mask(map, fraction, order) removes n = round(fraction · H · W) pixels: the n largest map
// values (MoRF) or the n smallest (LeRF); ties in row-major index order (as pixel_order).
// Errors: ShapeError for x not [1, C, H, W] or [C, H, W], a mask or map whose spatial shape
// differs from x; ArgumentError for a fraction outside [0, 1] or NaN, noise < 0 or NaN, a NaN in
// the map, every pixel removed (nothing to impute from), a bad target.
#include "gradattr/core/detail/eigen.hpp"  // first: Eigen configured for gradattr
#include <Eigen/SparseCholesky>
#include <Eigen/SparseCore>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "gradattr/attribution/target.hpp"
#include "gradattr/core/error.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/metrics/deletion.hpp"
#include "gradattr/models/classifier.hpp"
#include "gradattr/score/runtime.hpp"

namespace gradattr::metrics {

enum class RoadOrder { MoRF, LeRF };
constexpr std::string_view to_string(RoadOrder o) noexcept { return o == RoadOrder::MoRF ? "morf" : "lerf"; }

struct ImputeOptions {
  double noise = 0.01;       // standard deviation of the Gaussian added to imputed values (0: none)
  std::uint64_t seed = 0;    // std::mt19937_64 seed of that noise
};

namespace detail {
inline void road_spatial(const Shape& s, std::int64_t& C, std::int64_t& H, std::int64_t& W, const char* who) {
  if (s.rank() == 4 && s[0] == 1) C = s[1], H = s[2], W = s[3];
  else if (s.rank() == 3) C = s[0], H = s[1], W = s[2];
  else throw ShapeError(std::string(who) + ": x must be one image [1, C, H, W] or [C, H, W], got " + s.str());
}
template <class M>
void road_mask_shape(const Tensor<M>& m, std::int64_t H, std::int64_t W, const char* who, const char* what) {
  const bool ok = (m.rank() == 2 && m.dim(0) == H && m.dim(1) == W) ||
                  (m.rank() == 3 && m.dim(0) == 1 && m.dim(1) == H && m.dim(2) == W) ||
                  (m.rank() == 4 && m.dim(0) == 1 && m.dim(1) == 1 && m.dim(2) == H && m.dim(3) == W);
  if (!ok)
    throw ShapeError(std::string(who) + ": the " + what + " " + m.shape().str() + " is not [H, W] = [" + std::to_string(H) +
                     ", " + std::to_string(W) + "] (the image's spatial shape)");
}
// The 8 neighbours (dy, dx, weight) of the authors' NoisyLinearImputer.
struct Nb { int dy, dx; double w; };
inline constexpr Nb kRoadNeighbours[8] = {{1, 1, 1.0 / 12}, {0, 1, 1.0 / 6},   {-1, 1, 1.0 / 12}, {1, -1, 1.0 / 12},
                                          {0, -1, 1.0 / 6}, {-1, -1, 1.0 / 12}, {1, 0, 1.0 / 6},   {-1, 0, 1.0 / 6}};
}  // namespace detail

// x [1, C, H, W] or [C, H, W] with the pixels where `removed` is non-zero replaced by noisy linear
// imputation (all channels of a pixel). Kept pixels are returned bit for bit.
template <class T, class M>
Tensor<T> noisy_linear_impute(const Tensor<T>& x, const Tensor<M>& removed, const ImputeOptions& options = {}) {
  const char* who = "noisy_linear_impute";
  std::int64_t C = 0, H = 0, W = 0;
  detail::road_spatial(x.shape(), C, H, W, who);
  detail::road_mask_shape(removed, H, W, who, "mask");
  if (!(options.noise >= 0) || !std::isfinite(options.noise))
    throw ArgumentError(std::string(who) + ": noise must be finite and >= 0, got " + std::to_string(options.noise));
  const std::int64_t P = H * W;
  std::vector<std::int64_t> var(static_cast<std::size_t>(P), -1), unknowns;
  for (std::int64_t p = 0; p < P; ++p)
    if (removed[p] != M{0}) {
      var[static_cast<std::size_t>(p)] = static_cast<std::int64_t>(unknowns.size());
      unknowns.push_back(p);
    }
  Tensor<T> out = x.clone();
  const auto n = static_cast<Eigen::Index>(unknowns.size());
  if (n == 0) return out;
  if (n == P) throw ArgumentError(std::string(who) + ": every pixel is removed; the imputation needs at least one kept pixel");
  std::vector<Eigen::Triplet<double>> trip;
  trip.reserve(static_cast<std::size_t>(n) * 9);
  Eigen::MatrixXd b = Eigen::MatrixXd::Zero(n, C);
  for (Eigen::Index k = 0; k < n; ++k) {
    const std::int64_t p = unknowns[static_cast<std::size_t>(k)], i = p / W, j = p % W;
    double diag = 0;
    for (const auto& nb : detail::kRoadNeighbours) {
      const std::int64_t ii = i + nb.dy, jj = j + nb.dx;
      if (ii < 0 || jj < 0 || ii >= H || jj >= W) continue;
      const std::int64_t q = ii * W + jj;
      diag += nb.w;
      const std::int64_t v = var[static_cast<std::size_t>(q)];
      if (v >= 0) trip.emplace_back(k, static_cast<Eigen::Index>(v), -nb.w);
      else
        for (std::int64_t c = 0; c < C; ++c) b(k, c) += nb.w * static_cast<double>(x[c * P + q]);
    }
    trip.emplace_back(k, k, diag);
  }
  Eigen::SparseMatrix<double> A(n, n);
  A.setFromTriplets(trip.begin(), trip.end());
  Eigen::SimplicialLDLT<Eigen::SparseMatrix<double>> solver(A);
  if (solver.info() != Eigen::Success) throw Error(std::string(who) + ": the sparse factorisation failed");
  const Eigen::MatrixXd sol = solver.solve(b);
  if (solver.info() != Eigen::Success) throw Error(std::string(who) + ": the sparse solve failed");
  std::mt19937_64 rng(options.seed);
  std::normal_distribution<double> gauss(0.0, 1.0);
  for (std::int64_t c = 0; c < C; ++c)
    for (Eigen::Index k = 0; k < n; ++k) {
      const double e = options.noise > 0 ? options.noise * gauss(rng) : 0.0;
      out[c * P + unknowns[static_cast<std::size_t>(k)]] = static_cast<T>(sol(k, c) + e);
    }
  return out;
}

// The removal mask [H, W] (1 = removed) of `fraction` of the pixels of `map` in `order`.
template <class T>
Tensor<std::uint8_t> road_mask(const Tensor<T>& map, double fraction, RoadOrder order) {
  if (!(fraction >= 0 && fraction <= 1))
    throw ArgumentError("road_mask: fraction must be in [0, 1], got " + std::to_string(fraction));
  std::int64_t H = 0, W = 0;
  if (map.rank() == 2) H = map.dim(0), W = map.dim(1);
  else if (map.rank() == 3 && map.dim(0) == 1) H = map.dim(1), W = map.dim(2);
  else if (map.rank() == 4 && map.dim(0) == 1 && map.dim(1) == 1) H = map.dim(2), W = map.dim(3);
  else throw ShapeError("road_mask: the map must be [H, W], [1, H, W] or [1, 1, H, W], got " + map.shape().str());
  const std::int64_t P = H * W;
  std::vector<std::int64_t> idx;
  if (order == RoadOrder::MoRF) idx = pixel_order(map);  // decreasing, ties by index; throws on NaN
  else {
    for (std::int64_t i = 0; i < map.numel(); ++i)
      if (std::isnan(static_cast<double>(map[i]))) throw ArgumentError("road_mask: the map has a NaN at element " + std::to_string(i));
    idx.resize(static_cast<std::size_t>(P));
    std::iota(idx.begin(), idx.end(), std::int64_t{0});
    std::stable_sort(idx.begin(), idx.end(), [&](std::int64_t a, std::int64_t b) { return map[a] < map[b]; });
  }
  const auto n = static_cast<std::int64_t>(std::llround(fraction * static_cast<double>(P)));
  Tensor<std::uint8_t> m({H, W});
  for (std::int64_t k = 0; k < n; ++k) m[idx[static_cast<std::size_t>(k)]] = 1;
  return m;
}

struct RoadCurve {
  RoadOrder order = RoadOrder::MoRF;
  std::string evaluation_policy;  // the policy of `scores`
  std::int64_t cls = 0;           // the class scored (resolved on the clean image)
  std::vector<double> fractions;
  std::vector<std::int64_t> removed;  // pixels removed per fraction
  std::vector<double> scores;         // S of the class after imputation, per fraction
  std::vector<char> correct;          // the imputed image's top class is still cls, per fraction
  double area = 0;                    // mean of scores over the fractions
};

// One ROAD curve: for each fraction, remove that fraction of the pixels of `map` in `order`,
// impute them (noise seed options.seed + k for the k-th fraction, so each fraction's noise is
// independent of the others and reproducible), evaluate the class score. One batched forward.
template <models::Classifier Mdl>
RoadCurve road_curve(ScoreKind evaluation, const Mdl& model, const Tensor<typename Mdl::scalar_type>& x,
                     const Tensor<typename Mdl::scalar_type>& map, RoadOrder order, const std::vector<double>& fractions,
                     const Target& target = {}, const ImputeOptions& options = {}) {
  using T = typename Mdl::scalar_type;
  const char* who = "road_curve";
  if (x.rank() != 4 || x.dim(0) != 1) throw ShapeError(std::string(who) + ": x must be one image [1, C, H, W], got " + x.shape().str());
  const std::int64_t C = x.dim(1), H = x.dim(2), W = x.dim(3);
  detail::road_mask_shape(map, H, W, who, "map");
  if (fractions.empty()) throw ArgumentError(std::string(who) + ": fractions is empty");
  for (double f : fractions)
    if (!(f >= 0 && f <= 1)) throw ArgumentError(std::string(who) + ": fraction must be in [0, 1], got " + std::to_string(f));
  RoadCurve r;
  r.order = order;
  r.evaluation_policy = std::string(score::to_string(evaluation));
  r.fractions = fractions;
  r.cls = target.resolve(model.forward(x), who)[0];
  const auto F = static_cast<std::int64_t>(fractions.size());
  auto batch = Tensor<T>::uninitialized({F, C, H, W});
  for (std::int64_t k = 0; k < F; ++k) {
    const Tensor<std::uint8_t> m = road_mask(map, fractions[static_cast<std::size_t>(k)], order);
    std::int64_t cnt = 0;
    for (auto v : m) cnt += v;
    r.removed.push_back(cnt);
    ImputeOptions o = options;
    o.seed = options.seed + static_cast<std::uint64_t>(k);
    const Tensor<T> xi = noisy_linear_impute(x, m, o);
    std::copy(xi.begin(), xi.end(), batch.data() + k * C * H * W);
  }
  const Tensor<T> z = model.forward(batch);
  const std::vector<std::int64_t> classes(static_cast<std::size_t>(F), r.cls);
  const Tensor<T> s = dispatch_score(evaluation, [&](auto policy) { return policy.score(z, classes); });
  const std::int64_t K = z.dim(1);
  for (std::int64_t k = 0; k < F; ++k) {
    r.scores.push_back(static_cast<double>(s[k]));
    const T* row = z.data() + k * K;
    r.correct.push_back(static_cast<char>((std::max_element(row, row + K) - row) == r.cls));
  }
  double a = 0;
  for (double v : r.scores) a += v;
  r.area = a / static_cast<double>(F);
  return r;
}

}  // namespace gradattr::metrics
