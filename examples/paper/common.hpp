#pragma once
// Shared pieces of the paper experiments (examples/paper/): test-set loading, models, CSV tables
// (also rendered as markdown for docs/report.md), NaN-aware statistics and small figure helpers.
// Used by the experiment program (main.cpp) and by the ctest cases in tests/paper/.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include <gradattr/attribution/runtime.hpp>
#include <gradattr/core/error.hpp>
#include <gradattr/core/tensor.hpp>
#include <gradattr/io/idx.hpp>
#include <gradattr/io/image.hpp>
#include <gradattr/models/vgg.hpp>
#include <gradattr/models/vgg_safetensors.hpp>
#include <gradattr/viz/colormap.hpp>
#include <gradattr/viz/overlay.hpp>
#include <gradattr/viz/panel.hpp>

#include "../train_fashion/fashion_config.hpp"

namespace paper {

namespace fs = std::filesystem;
using gradattr::Attribution;
using gradattr::Method;
using gradattr::ScoreKind;
using gradattr::Tensor;

// Every experiment runs every score space of the library's one list (score/runtime.hpp).
inline constexpr auto kPolicies = gradattr::kAllScoreKinds;
inline constexpr std::size_t kNP = kPolicies.size();
// The index of score space k in kPolicies (kNP for none).
constexpr std::size_t policy_index(ScoreKind k) {
  for (std::size_t i = 0; i < kNP; ++i)
    if (kPolicies[i] == k) return i;
  return kNP;
}
inline const char* kDefaultData = "/usr/share/datasets/fashion-mnist";

inline std::string policy_name(ScoreKind k) { return std::string(gradattr::score::to_string(k)); }
inline std::string method_name(Method m) { return std::string(gradattr::to_string(m)); }

inline std::vector<Method> parse_methods(const std::string& csv) {
  std::vector<Method> out;
  if (csv.empty() || csv == "all") return {gradattr::kGeneralMethods.begin(), gradattr::kGeneralMethods.end()};
  std::stringstream ss(csv);
  std::string item;
  while (std::getline(ss, item, ',')) out.push_back(gradattr::parse_method(item));
  return out;
}

// ---------------------------------------------------------------------------------------------
// Data

struct TestSet {
  Tensor<float> x;          // [N, 1, 28, 28] in [0, 1]
  std::vector<int> labels;  // [N]
  std::int64_t size() const { return static_cast<std::int64_t>(labels.size()); }
  // Image i as its own [1, 1, 28, 28] tensor (a copy: aligned, independent buffer).
  Tensor<float> image(std::int64_t i) const { return x.slice_batch(i).clone(); }
  Tensor<float> batch(std::int64_t i, std::int64_t n) const { return x.slice_batch(i, n).clone(); }
};

// The first `limit` t10k images (all when limit <= 0).
inline TestSet load_test_set(const std::string& dir, std::int64_t limit) {
  TestSet t;
  Tensor<float> all = gradattr::io::read_idx_images(fs::path(dir) / "t10k-images-idx3-ubyte.gz");
  std::vector<int> labels = gradattr::io::read_idx_labels(fs::path(dir) / "t10k-labels-idx1-ubyte.gz");
  const std::int64_t n = limit > 0 ? std::min<std::int64_t>(limit, all.dim(0)) : all.dim(0);
  t.x = all.slice_batch(0, n).clone();
  t.labels.assign(labels.begin(), labels.begin() + n);
  return t;
}

// ---------------------------------------------------------------------------------------------
// Models

// The shipped Fashion-MNIST architecture (examples/data/README.md).
using train_fashion::fashion_config;

// The weights file when it exists, else a seeded random model of the shipped shape (`what` says
// which, for the tables).
template <class T = float>
gradattr::models::Vgg<T> fashion_model(const std::string& path, std::uint64_t seed, std::string* what = nullptr) {
  if (!path.empty() && fs::exists(path)) {
    if (what) *what = path;
    return gradattr::models::vgg_from_safetensors<T>(path);
  }
  if (what) *what = "random seeded fashion-shaped VGG (seed " + std::to_string(seed) + "; " + path + " not found)";
  return gradattr::models::vgg<T>(fashion_config(), seed);
}

// ---------------------------------------------------------------------------------------------
// Statistics

inline double nan_mean(const std::vector<double>& v, std::int64_t* undefined = nullptr) {
  double s = 0;
  std::int64_t n = 0, bad = 0;
  for (double x : v)
    if (std::isnan(x)) ++bad;
    else { s += x; ++n; }
  if (undefined) *undefined = bad;
  return n ? s / static_cast<double>(n) : std::numeric_limits<double>::quiet_NaN();
}
inline double nan_min(const std::vector<double>& v) {
  double m = std::numeric_limits<double>::quiet_NaN();
  for (double x : v)
    if (!std::isnan(x) && (std::isnan(m) || x < m)) m = x;
  return m;
}
inline double nan_median(std::vector<double> v) {
  v.erase(std::remove_if(v.begin(), v.end(), [](double x) { return std::isnan(x); }), v.end());
  if (v.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(v.begin(), v.end());
  const auto n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}
inline double nan_std(const std::vector<double>& v) {
  const double m = nan_mean(v);
  double s = 0;
  std::int64_t n = 0;
  for (double x : v)
    if (!std::isnan(x)) { s += (x - m) * (x - m); ++n; }
  return n > 1 ? std::sqrt(s / static_cast<double>(n - 1)) : std::numeric_limits<double>::quiet_NaN();
}

template <class T>
double max_abs(const Tensor<T>& a) {
  double m = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(static_cast<double>(a[i])));
  return m;
}
template <class T, class U>
double max_abs_diff(const Tensor<T>& a, const Tensor<U>& b) {
  double m = 0;
  for (std::int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(static_cast<double>(a[i]) - static_cast<double>(b[i])));
  return m;
}

// ---------------------------------------------------------------------------------------------
// Tables: CSV files, rendered as markdown for the report.

inline std::string fmt(double v, int digits = 4) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  const double a = std::abs(v);
  if (v != 0 && (a < 1e-3 || a >= 1e5)) std::snprintf(buf, sizeof buf, "%.*e", digits - 1, v);
  else std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) {
    if (row.size() != header_.size()) throw gradattr::ArgumentError("Table: row width differs from the header");
    rows_.push_back(std::move(row));
  }
  const std::vector<std::vector<std::string>>& rows() const { return rows_; }
  const std::vector<std::string>& header() const { return header_; }

  std::string csv() const {
    std::string s;
    auto line = [&](const std::vector<std::string>& r) {
      for (std::size_t i = 0; i < r.size(); ++i) {
        const bool quote = r[i].find_first_of(",\"") != std::string::npos;
        std::string cell = r[i];
        if (quote) {
          std::string q = "\"";
          for (char c : cell) q += c == '"' ? std::string("\"\"") : std::string(1, c);
          cell = q + "\"";
        }
        s += (i ? "," : "") + cell;
      }
      s += "\n";
    };
    line(header_);
    for (const auto& r : rows_) line(r);
    return s;
  }
  std::string markdown() const {
    std::string s = "|";
    for (const auto& h : header_) s += " " + h + " |";
    s += "\n|";
    for (std::size_t i = 0; i < header_.size(); ++i) s += "---|";
    s += "\n";
    for (const auto& r : rows_) {
      s += "|";
      for (const auto& c : r) s += " " + c + " |";
      s += "\n";
    }
    return s;
  }
  // <dir>/<name>.csv and <dir>/<name>.md (written to temporaries and renamed).
  void write(const fs::path& dir, const std::string& name) const {
    fs::create_directories(dir);
    write_text(dir / (name + ".csv"), csv());
    write_text(dir / (name + ".md"), markdown());
  }
  static void write_text(const fs::path& path, const std::string& text) {
    const fs::path tmp = path.string() + ".tmp";
    {
      std::ofstream f(tmp, std::ios::binary);
      if (!f) throw gradattr::IoError("cannot write " + tmp.string());
      f << text;
      if (!f) throw gradattr::IoError("write failed: " + tmp.string());
    }
    fs::rename(tmp, path);
  }

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// ---------------------------------------------------------------------------------------------
// Figures

// Nearest-neighbour enlargement of an RGB [H, W, 3] image.
inline Tensor<std::uint8_t> enlarge(const Tensor<std::uint8_t>& img, int f) {
  const auto H = img.dim(0), W = img.dim(1);
  auto out = Tensor<std::uint8_t>::uninitialized({H * f, W * f, 3});
  for (std::int64_t i = 0; i < H * f; ++i)
    for (std::int64_t j = 0; j < W * f; ++j)
      for (int c = 0; c < 3; ++c) out[(i * W * f + j) * 3 + c] = img[((i / f) * W + j / f) * 3 + c];
  return out;
}

// A grey [1, 1, H, W] image in [0, 1] as float RGB [H, W, 3].
template <class T>
Tensor<float> grey_to_rgb(const Tensor<T>& x) {
  const auto H = x.dim(2), W = x.dim(3);
  auto out = Tensor<float>::uninitialized({H, W, 3});
  for (std::int64_t i = 0; i < H * W; ++i)
    for (int c = 0; c < 3; ++c) out[3 * i + c] = std::clamp(static_cast<float>(x[i]), 0.f, 1.f);
  return out;
}

// Overlay of a displayed map [1, H, W] on a grey image, enlarged.
template <class T>
Tensor<std::uint8_t> overlay_tile(const Tensor<float>& grey, const Tensor<T>& displayed, int f = 4) {
  const Tensor<float> rgb = grey_to_rgb(grey);
  return enlarge(gradattr::viz::overlay(rgb, displayed), f);
}

inline void write_png(const fs::path& path, const Tensor<std::uint8_t>& rgb) {
  fs::create_directories(path.parent_path().empty() ? fs::path(".") : path.parent_path());
  gradattr::io::write_png(path, rgb.data(), static_cast<int>(rgb.dim(1)), static_cast<int>(rgb.dim(0)), 3);
}

// A bar chart: one bar per value, labels under every `label_every`-th bar, a title on top.
inline Tensor<std::uint8_t> bar_chart(const std::vector<double>& values, const std::vector<std::string>& labels,
                                      const std::string& title, const std::string& xlabel, bool log_scale = false) {
  const int bw = 36, gap = 6, plot_h = 260, left = 60, top = 40, bottom = 70;
  const int n = static_cast<int>(values.size());
  const int W = left + n * (bw + gap) + 20, H = top + plot_h + bottom;
  Tensor<std::uint8_t> img({H, W, 3}, std::uint8_t{255});
  auto v_of = [&](double v) { return log_scale ? (v > 0 ? std::log10(v) + 1 : 0.0) : v; };
  double vmax = 0;
  for (double v : values) vmax = std::max(vmax, v_of(v));
  if (vmax <= 0) vmax = 1;
  auto fill = [&](int x0, int y0, int x1, int y1, std::array<std::uint8_t, 3> c) {
    for (int y = std::max(0, y0); y < std::min(H, y1); ++y)
      for (int x = std::max(0, x0); x < std::min(W, x1); ++x)
        for (int k = 0; k < 3; ++k) img[(static_cast<std::int64_t>(y) * W + x) * 3 + k] = c[static_cast<std::size_t>(k)];
  };
  fill(left - 2, top, left, top + plot_h, {0, 0, 0});
  fill(left - 2, top + plot_h, W - 10, top + plot_h + 2, {0, 0, 0});
  for (int i = 0; i < n; ++i) {
    const int h = static_cast<int>(std::lround(plot_h * v_of(values[static_cast<std::size_t>(i)]) / vmax));
    const int x0 = left + gap + i * (bw + gap);
    fill(x0, top + plot_h - h, x0 + bw, top + plot_h, {60, 110, 200});
    const std::string count = fmt(values[static_cast<std::size_t>(i)], 4);
    gradattr::viz::draw_text(img, x0, top + plot_h - h - 10, count);
    if (i < static_cast<int>(labels.size())) gradattr::viz::draw_text(img, x0, top + plot_h + 8, labels[static_cast<std::size_t>(i)]);
  }
  gradattr::viz::draw_text(img, left, 10, title, {0, 0, 0}, 2);
  gradattr::viz::draw_text(img, left, top + plot_h + 40, xlabel);
  return img;
}

}  // namespace paper
