#pragma once
// conv2d for float with any kernel size, stride, padding, dilation and groups: im2col (the
// input itself for 1x1 / stride 1 / no padding, so a pointwise convolution is one GEMM on NCHW)
// and a GEMM per group: the forward on the packed panels of kernels/fast/gemm.hpp (the weights
// read in place, each 64-column panel of the column matrix packed by the task that uses it),
// the backward passes on Eigen's. With G groups, group g owns input channels
// [g Ci/G, (g+1) Ci/G), output channels [g Co/G, (g+1) Co/G) and weight rows of the same range:
//
//   forward           y_g[n] [Co/G, P] = w_g [Co/G, K] * col_g[n] [K, P] + b   (K = Ci/G*KH*KW, P = OH*OW)
//   backward-data     dcol_g [K, P]    = w_g^T [K, Co/G] * dy_g[n] [Co/G, P], then col2im (adds into dx)
//   backward-weights  dw_g   [Co/G, K] = sum_n dy_g[n] [Co/G, P] * col_g[n]^T [P, K];  db = row sums of dy
//
// The column matrix of an image is that of all its channels (G K rows), group g's GEMMs read
// rows [g K, (g+1) K). Dilation only moves the taps (im2col_row); the bottom / right padding
// only sets OH / OW.
//
// Forward and backward-data cut the output columns into chunks (a range of output rows of one
// image, or several whole images) whose column matrix fits kColBudget floats, so the workspace
// is bounded whatever the batch and image size. One OpenMP team walks the chunks: it fills the
// column matrix (rows split over threads), then computes GEMM tiles (blocks of output channels
// by 64-column panels in the forward, Eigen tiles in backward-data), serially inside a task.
// Backward-weights has its own task layout (see there). Chunks, tiles and
// tasks depend only on the shapes, never on the thread count, and every output element is
// produced by one task in a fixed order, so results are bitwise identical for any number of
// threads. Workspace: per calling thread at most kColBudget floats (forward/backward-data),
// per team member ~1 MiB of private im2col, and dw partials when K is small (see there).
#include "gradattr/core/detail/intrinsics.hpp"  // first: see there
#include "gradattr/core/detail/eigen.hpp"
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "gradattr/core/aligned.hpp"
#include "gradattr/core/tensor.hpp"
#include "gradattr/kernels/fast/activation.hpp"
#include "gradattr/kernels/fast/gemm.hpp"
#include "gradattr/kernels/params.hpp"

namespace gradattr::kernels::fast {
namespace conv_detail {

using RowMat = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Stride = Eigen::OuterStride<>;
using MatMap = Eigen::Map<RowMat, Eigen::Unaligned, Stride>;
using ConstMatMap = Eigen::Map<const RowMat, Eigen::Unaligned, Stride>;

// Largest column matrix (floats) a chunk may need: 16 MiB. Big enough that the GEMM depth of a
// VGG layer's backward-weights is a whole image for 512@28 (K = 4608, P = 784), small enough to
// stay in this machine's L3.
inline constexpr std::int64_t kColBudget = std::int64_t{4} << 20;

// Per-thread scratch buffers that only grow: repeated calls do not pay for fresh pages.
// Slot kShared belongs to the thread that calls a kernel and is shared with the OpenMP team it
// starts; slot kPrivate is used by each team member for itself; kPartials holds dw partials.
enum WorkspaceSlot { kShared = 0, kPrivate = 1, kPartials = 2 };
inline float* workspace(std::int64_t n, int slot = kShared) {
  thread_local std::shared_ptr<float[]> buf[3];
  thread_local std::int64_t capacity[3] = {0, 0, 0};
  if (n > capacity[slot]) {
    buf[slot] = make_aligned_buffer<float>(static_cast<std::size_t>(n));
    capacity[slot] = n;
  }
  return buf[slot].get();
}

struct Geometry {
  std::int64_t N, Ci, H, W, Co, KH, KW, OH, OW, sh, sw, ph, pw, dh, dw, G;
  std::int64_t Cig() const noexcept { return Ci / G; }
  std::int64_t Cog() const noexcept { return Co / G; }
  std::int64_t K() const noexcept { return Cig() * KH * KW; }    // GEMM depth of one group
  std::int64_t rows() const noexcept { return Ci * KH * KW; }    // rows of an image's column matrix
  std::int64_t HW() const noexcept { return H * W; }
  std::int64_t OHW() const noexcept { return OH * OW; }
  // The multiply-adds of the forward (and of each backward product): a team is woken only when
  // they are worth it (core/parallel.hpp).
  double macs() const noexcept { return static_cast<double>(N * OH * OW) * static_cast<double>(Co * K()); }
  bool worth_a_team() const noexcept { return worth_parallel(2, kMacWork * macs()); }
  // The input is its own column matrix (1x1, stride 1, no padding on any side).
  bool pointwise() const noexcept {
    return KH == 1 && KW == 1 && sh == 1 && sw == 1 && ph == 0 && pw == 0 && OH == H && OW == W;
  }
};

inline Geometry geometry(const Shape& x, const Shape& w, const Shape& y, const Conv2dParams& p) noexcept {
  return {x[0], x[1], x[2], x[3], w[0], w[2], w[3], y[2], y[3], p.stride_h, p.stride_w, p.pad_h, p.pad_w,
          p.dilation_h, p.dilation_w, p.groups};
}

// Output rows [oh0, oh1) of images [n0, n1) (all rows when there are several images).
struct Chunk {
  std::int64_t n0, n1, oh0, oh1;
  std::int64_t images() const noexcept { return n1 - n0; }
  std::int64_t segment(const Geometry& g) const noexcept { return (oh1 - oh0) * g.OW; }  // columns per image
  std::int64_t columns(const Geometry& g) const noexcept { return images() * segment(g); }
};

inline std::vector<Chunk> plan_chunks(const Geometry& g) {
  std::vector<Chunk> chunks;
  if (g.pointwise()) {
    chunks.push_back({0, g.N, 0, g.OH});
    return chunks;
  }
  const std::int64_t rows = std::max<std::int64_t>(1, kColBudget / (g.rows() * g.OW));
  if (rows >= g.OH) {
    const std::int64_t imgs = std::max<std::int64_t>(1, rows / g.OH);
    for (std::int64_t n = 0; n < g.N; n += imgs) chunks.push_back({n, std::min(g.N, n + imgs), 0, g.OH});
  } else {
    const std::int64_t parts = (g.OH + rows - 1) / rows, step = (g.OH + parts - 1) / parts;
    for (std::int64_t n = 0; n < g.N; ++n)
      for (std::int64_t r = 0; r < g.OH; r += step) chunks.push_back({n, n + 1, r, std::min(g.OH, r + step)});
  }
  return chunks;
}

// [0, total) in parts of at most max_block, sizes rounded up to a multiple of align.
struct Split {
  std::int64_t total, size, parts;
  std::int64_t begin(std::int64_t i) const noexcept { return i * size; }
  std::int64_t end(std::int64_t i) const noexcept { return std::min(total, (i + 1) * size); }
};
inline Split split(std::int64_t total, std::int64_t max_block, std::int64_t align = 16) noexcept {
  const std::int64_t parts = (total + max_block - 1) / max_block;
  std::int64_t size = (total + parts - 1) / parts;
  size = std::min(total, (size + align - 1) / align * align);
  return {total, size, (total + size - 1) / size};
}

// Output columns ow whose tap kw lands inside the input row: [lo, hi).
inline void valid_columns(std::int64_t kw, const Geometry& g, std::int64_t& lo, std::int64_t& hi) noexcept {
  const std::int64_t first = g.pw - kw * g.dw;  // ow * sw >= first
  lo = first > 0 ? (first + g.sw - 1) / g.sw : 0;
  const std::int64_t last = g.W - 1 + g.pw - kw * g.dw;  // ow * sw <= last
  hi = last < 0 ? 0 : std::min(g.OW, last / g.sw + 1);
  lo = std::min(lo, g.OW);
  hi = std::max(hi, lo);
}

// One row (ci, kh, kw) of the column matrix for output rows [oh0, oh1) of one image plane.
inline void im2col_row(float* dst, const float* plane, std::int64_t kh, std::int64_t kw, std::int64_t oh0,
                       std::int64_t oh1, const Geometry& g) noexcept {
  std::int64_t lo, hi;
  valid_columns(kw, g, lo, hi);
  for (std::int64_t oh = oh0; oh < oh1; ++oh, dst += g.OW) {
    const std::int64_t ih = oh * g.sh - g.ph + kh * g.dh;
    if (ih < 0 || ih >= g.H) {
      std::fill(dst, dst + g.OW, 0.0f);
      continue;
    }
    const float* src = plane + ih * g.W - g.pw + kw * g.dw;
    std::fill(dst, dst + lo, 0.0f);
    if (g.sw == 1) {
      if (hi > lo) std::memcpy(dst + lo, src + lo, static_cast<std::size_t>(hi - lo) * sizeof(float));
    } else {
      for (std::int64_t ow = lo; ow < hi; ++ow) dst[ow] = src[ow * g.sw];
    }
    std::fill(dst + hi, dst + g.OW, 0.0f);
  }
}

// The adjoint of im2col_row: adds the row back into the image plane.
inline void col2im_row(float* plane, const float* src, std::int64_t kh, std::int64_t kw, std::int64_t oh0,
                       std::int64_t oh1, const Geometry& g) noexcept {
  std::int64_t lo, hi;
  valid_columns(kw, g, lo, hi);
  for (std::int64_t oh = oh0; oh < oh1; ++oh, src += g.OW) {
    const std::int64_t ih = oh * g.sh - g.ph + kh * g.dh;
    if (ih < 0 || ih >= g.H) continue;
    float* dst = plane + ih * g.W - g.pw + kw * g.dw;
    if (g.sw == 1) {
      for (std::int64_t ow = lo; ow < hi; ++ow) dst[ow] += src[ow];
    } else {
      for (std::int64_t ow = lo; ow < hi; ++ow) dst[ow * g.sw] += src[ow];
    }
  }
}

// Where image gi of a chunk finds row k, column 0 of its column matrix, and the row stride.
struct Columns {
  float* base;
  std::int64_t row_stride, image_stride;
  float* at(std::int64_t gi, std::int64_t k) const noexcept { return base + gi * image_stride + k * row_stride; }
};

// The column matrix of a chunk: the input itself for pointwise convolutions, else the workspace.
inline Columns chunk_columns(float* col, const float* x, const Chunk& c, const Geometry& g) noexcept {
  if (g.pointwise()) return {const_cast<float*>(x) + c.n0 * g.Ci * g.HW() + c.oh0 * g.OW, g.HW(), g.Ci * g.HW()};
  return {col, c.columns(g), c.segment(g)};
}

// Inside a team: fills the column matrix of chunk c (nothing to do when pointwise).
inline void im2col_chunk(const Columns& cols, const float* x, const Chunk& c, const Geometry& g) noexcept {
  if (g.pointwise()) return;
  const std::int64_t K = g.rows(), rows = c.images() * K;
#pragma omp for schedule(static)
  for (std::int64_t r = 0; r < rows; ++r) {
    const std::int64_t gi = r / K, k = r % K, ci = k / (g.KH * g.KW), kh = (k / g.KW) % g.KH, kw = k % g.KW;
    im2col_row(cols.at(gi, k), x + ((c.n0 + gi) * g.Ci + ci) * g.HW(), kh, kw, c.oh0, c.oh1, g);
  }
}

inline std::int64_t max_chunk_columns(const std::vector<Chunk>& chunks, const Geometry& g) noexcept {
  std::int64_t m = 0;
  for (const auto& c : chunks) m = std::max(m, c.columns(g));
  return m;
}

}  // namespace conv_detail

// y [N, Co, OH, OW] = act(x [N, Ci, H, W] (*) w [Co, Ci/G, KH, KW] + b [Co] + residual) (b may be
// empty, residual null or of y's shape; both added and act applied to each tile as it is written)
inline void conv2d_gemm_forward(Tensor<float>& y, const Tensor<float>& x, const Tensor<float>& w,
                                const Tensor<float>& b, const Conv2dParams& p, const Activation& act = {},
                                const float* residual = nullptr) noexcept {
  using namespace conv_detail;
  const Geometry g = geometry(x.shape(), w.shape(), y.shape(), p);
  const std::int64_t K = g.K();
  const auto chunks = plan_chunks(g);
  float* col = g.pointwise() ? nullptr : workspace(g.rows() * max_chunk_columns(chunks, g));
  // Row blocks of at most kGemmRows output channels, multiples of the micro-kernel's rows: with
  // the 64-column panels they make enough tasks for both threads on layer4's 7x7 maps (P = 49).
  const Split co_split = split(g.Cog(), kGemmRows, detail::kPanelRows);
  const float* xd = x.data();
  const float* wd = w.data();
  const float* bd = b.empty() ? nullptr : b.data();
  float* yd = y.data();
#pragma omp parallel if (g.worth_a_team())
  for (const Chunk& c : chunks) {
    const Columns cols = chunk_columns(col, xd, c, g);
    im2col_chunk(cols, xd, c, g);
    const std::int64_t S = c.segment(g);
    const std::int64_t panels = (S + detail::kPanelWidth - 1) / detail::kPanelWidth;
    const std::int64_t tiles = c.images() * g.G * co_split.parts * panels;
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t t = 0; t < tiles; ++t) {
      const std::int64_t gi = t / (g.G * co_split.parts * panels), grp = t / (co_split.parts * panels) % g.G;
      const std::int64_t mb = (t / panels) % co_split.parts, n0 = t % panels * detail::kPanelWidth;
      const std::int64_t co0 = grp * g.Cog() + co_split.begin(mb), co1 = grp * g.Cog() + co_split.end(mb);
      const std::int64_t width = std::min(detail::kPanelWidth, S - n0);
      const std::int64_t out = ((c.n0 + gi) * g.Co + co0) * g.OHW() + c.oh0 * g.OW;  // y(co0, column 0 of c)
      // the epilogue fused into the tile's store: + b, + residual, act, in that order (so the
      // same floats as the conv, the Add and the activation run one after the other)
      const float* res = residual ? residual + out : nullptr;
      auto store = [&](std::int64_t i, const float* tile_row, float* y_row, std::int64_t n) noexcept {
        const float* r = res ? res + i * g.OHW() + n0 : nullptr;
        if (bd) {
          const float bias = bd[co0 + i];
          if (r)
            for (std::int64_t j = 0; j < n; ++j) y_row[j] = (tile_row[j] + bias) + r[j];
          else
            for (std::int64_t j = 0; j < n; ++j) y_row[j] = tile_row[j] + bias;
        } else if (r) {
          for (std::int64_t j = 0; j < n; ++j) y_row[j] = tile_row[j] + r[j];
        } else {
          std::memcpy(y_row, tile_row, static_cast<std::size_t>(n) * sizeof(float));
        }
        if (act) apply_activation(y_row, n, act);
      };
      float* scratch = workspace(gemm_panel_scratch(K), kPrivate);
      gemm_panel<xsimd::default_arch>(co1 - co0, K, wd + co0 * K, K, cols.at(gi, grp * K), cols.row_stride, 1, n0,
                                      width, yd + out, g.OHW(), scratch, store);
    }
  }
}

// dx [N, Ci, H, W] (assigned) from dy [N, Co, OH, OW] and w [Co, Ci/G, KH, KW]
inline void conv2d_gemm_backward_data(Tensor<float>& dx, const Tensor<float>& dy, const Tensor<float>& w,
                                      const Conv2dParams& p) noexcept {
  using namespace conv_detail;
  const Geometry g = geometry(dx.shape(), w.shape(), dy.shape(), p);
  const std::int64_t K = g.K(), Cog = g.Cog();
  const auto chunks = plan_chunks(g);
  float* col = g.pointwise() ? nullptr : workspace(g.rows() * max_chunk_columns(chunks, g));
  const Split k_split = split(K, 256);
  const float* dyd = dy.data();
  const float* wd = w.data();
  float* dxd = dx.data();
  const std::int64_t planes = g.N * g.Ci;
#pragma omp parallel if (g.worth_a_team())
  {
    if (!g.pointwise()) {
#pragma omp for schedule(static)
      for (std::int64_t i = 0; i < planes; ++i) std::fill(dxd + i * g.HW(), dxd + (i + 1) * g.HW(), 0.0f);
    }
    for (const Chunk& c : chunks) {
      const Columns cols = chunk_columns(g.pointwise() ? dxd : col, dxd, c, g);
      const std::int64_t S = c.segment(g);
      const Split col_split = split(S, 512);
      const std::int64_t tiles = c.images() * g.G * k_split.parts * col_split.parts;
#pragma omp for schedule(dynamic, 1)
      for (std::int64_t t = 0; t < tiles; ++t) {
        const std::int64_t gi = t / (g.G * k_split.parts * col_split.parts), grp = t / (k_split.parts * col_split.parts) % g.G;
        const std::int64_t kb = (t / col_split.parts) % k_split.parts, nb = t % col_split.parts;
        const std::int64_t k0 = k_split.begin(kb), k1 = k_split.end(kb);
        const std::int64_t c0 = col_split.begin(nb), c1 = col_split.end(nb);
        ConstMatMap wm(wd + grp * Cog * K + k0, Cog, k1 - k0, Stride(K));
        ConstMatMap dym(dyd + ((c.n0 + gi) * g.Co + grp * Cog) * g.OHW() + c.oh0 * g.OW + c0, Cog, c1 - c0,
                        Stride(g.OHW()));
        MatMap dcol(cols.at(gi, grp * K + k0) + c0, k1 - k0, c1 - c0, Stride(cols.row_stride));
        dcol.noalias() = wm.transpose() * dym;
      }
      if (g.pointwise()) continue;
      const std::int64_t tasks = c.images() * g.Ci;
#pragma omp for schedule(static)
      for (std::int64_t t = 0; t < tasks; ++t) {
        const std::int64_t gi = t / g.Ci, ci = t % g.Ci;
        float* plane = dxd + ((c.n0 + gi) * g.Ci + ci) * g.HW();
        for (std::int64_t kh = 0; kh < g.KH; ++kh)
          for (std::int64_t kw = 0; kw < g.KW; ++kw)
            col2im_row(plane, cols.at(gi, (ci * g.KH + kh) * g.KW + kw), kh, kw, c.oh0, c.oh1, g);
      }
    }
  }
}

// dw [Co, Ci/G, KH, KW] and db [Co] (may be empty: not computed), both assigned, from dy and x.
//
// Tasks are (row part, convolution group, block of K). A task walks its part's output rows in
// chunks small enough that the im2col of its K rows stays in the thread's L2 (a private
// buffer), and adds dy_chunk [Co/G, P] * col^T [P, Kb] into the part's partial dw. No barrier
// per chunk. With several row parts (small K: not enough (group, K block) tasks to feed the
// threads) the partials are summed in part order at the end. Parts and blocks depend only on the
// shapes: bitwise the same result for any thread count.
inline void conv2d_gemm_backward_weights(Tensor<float>& dw, Tensor<float>& db, const Tensor<float>& dy,
                                         const Tensor<float>& x, const Conv2dParams& p) noexcept {
  using namespace conv_detail;
  const Geometry g = geometry(x.shape(), dw.shape(), dy.shape(), p);
  const std::int64_t K = g.K(), Cog = g.Cog(), rows_total = g.N * g.OH;
  const Split k_split = split(K, 256);
  const std::int64_t blocks = g.G * k_split.parts;  // (group, K block) pairs
  std::int64_t parts = 1;
  if (blocks < 16) {
    parts = (16 + blocks - 1) / blocks;
    parts = (parts + 3) / 4 * 4;
  }
  parts = std::max<std::int64_t>(1, std::min(parts, rows_total));
  // Columns per chunk: about 1 MiB of im2col per task, at least 256 for the GEMM's depth.
  const std::int64_t chunk_rows =
      std::max<std::int64_t>(1, std::max<std::int64_t>(256, (std::int64_t{1} << 18) / k_split.size) / g.OW);
  const std::int64_t tasks = parts * blocks;
  float* partials = parts > 1 ? workspace(parts * g.Co * K, kPartials) : nullptr;
  const float* dyd = dy.data();
  const float* xd = x.data();
  float* dwd = dw.data();
  float* dbd = db.empty() ? nullptr : db.data();
  const bool pointwise = g.pointwise();
#pragma omp parallel if (g.worth_a_team())
  {
    if (dbd) {
#pragma omp for schedule(static) nowait
      for (std::int64_t co = 0; co < g.Co; ++co) {
        float s = 0;
        for (std::int64_t n = 0; n < g.N; ++n)
          s += Eigen::Map<const Eigen::VectorXf>(dyd + (n * g.Co + co) * g.OHW(), g.OHW()).sum();
        dbd[co] = s;
      }
    }
    float* col = pointwise ? nullptr : workspace(k_split.size * chunk_rows * g.OW, kPrivate);
#pragma omp for schedule(dynamic, 1)
    for (std::int64_t t = 0; t < tasks; ++t) {
      const std::int64_t pi = t / blocks, grp = t / k_split.parts % g.G, kb = t % k_split.parts;
      const std::int64_t k0 = k_split.begin(kb), k1 = k_split.end(kb), nk = k1 - k0;
      float* out = (parts > 1 ? partials + pi * g.Co * K : dwd) + grp * Cog * K;
      MatMap dwm(out + k0, Cog, nk, Stride(K));
      bool first = true;
      // this part's output rows, [r0, r1) over all images' rows
      const std::int64_t r0 = rows_total * pi / parts, r1 = rows_total * (pi + 1) / parts;
      for (std::int64_t r = r0; r < r1;) {
        const std::int64_t n = r / g.OH, oh0 = r % g.OH;
        const std::int64_t oh1 = std::min({g.OH, oh0 + chunk_rows, oh0 + (r1 - r)});
        const std::int64_t P = (oh1 - oh0) * g.OW;
        const float* image = xd + (n * g.Ci + grp * g.Cig()) * g.HW();  // the group's first channel
        const float* cols;
        std::int64_t col_stride;
        if (pointwise) {
          cols = image + k0 * g.HW() + oh0 * g.OW;
          col_stride = g.HW();
        } else {
          for (std::int64_t k = k0; k < k1; ++k) {
            const std::int64_t ci = k / (g.KH * g.KW), kh = (k / g.KW) % g.KH, kw = k % g.KW;
            im2col_row(col + (k - k0) * P, image + ci * g.HW(), kh, kw, oh0, oh1, g);
          }
          cols = col;
          col_stride = P;
        }
        ConstMatMap dym(dyd + (n * g.Co + grp * Cog) * g.OHW() + oh0 * g.OW, Cog, P, Stride(g.OHW()));
        ConstMatMap xm(cols, nk, P, Stride(col_stride));
        if (first)
          dwm.noalias() = dym * xm.transpose();
        else
          dwm.noalias() += dym * xm.transpose();
        first = false;
        r += oh1 - oh0;
      }
      if (first) dwm.setZero();  // an empty part (more parts than rows cannot happen; kept safe)
    }
    if (parts > 1) {
      const std::int64_t total = g.Co * K;
#pragma omp for schedule(static)
      for (std::int64_t i0 = 0; i0 < total; i0 += 1024) {
        const std::int64_t i1 = std::min(total, i0 + 1024);
        for (std::int64_t i = i0; i < i1; ++i) {
          float s = partials[i];
          for (std::int64_t pi = 1; pi < parts; ++pi) s += partials[pi * total + i];
          dwd[i] = s;
        }
      }
    }
  }
}

}  // namespace gradattr::kernels::fast
