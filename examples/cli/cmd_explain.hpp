#pragma once
// gradattr explain: one method under one score space (overlay PNG, raw and displayed maps as
// NPY), or, with no --method, the panel of the main job: rows Grad-CAM, Grad-CAM++, RSI Grad-CAM,
// HiResCAM, Integrated Gradients; columns Pre, Post, LogSoftmax; plus a table of how much the
// score spaces agree.
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <gradattr/attribution/runtime.hpp>
#include <gradattr/io/image.hpp>
#include <gradattr/io/npy.hpp>
#include <gradattr/metrics/agreement.hpp>
#include <gradattr/viz/overlay.hpp>
#include <gradattr/viz/panel.hpp>

#include "common.hpp"
#include "progress.hpp"

namespace gradattr_cli {

struct ExplainArgs {
  ModelArgs model;
  std::string method, score = "post", layer, out, save_raw, save_map;
  std::string cls;  // empty: the top class; parsed by target_of so that an overflow is reported as given
  long long steps = 50;
  unsigned long long seed = 0;
  int tile = 112;  // panel tile side (pixels)
};

// Fails early (before a long computation) if an output cannot be written there.
inline void check_writable(const std::string& path, const char* option) {
  if (path.empty()) return;
  namespace fs = std::filesystem;
  const fs::path p(path);
  if (fs::is_directory(p)) throw gradattr::IoError(std::string(option) + " " + path + ": is a directory");
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  if (!fs::is_directory(dir) || access(dir.c_str(), W_OK) != 0)
    throw gradattr::IoError(std::string(option) + " " + path + ": directory " + dir.string() + " is missing or not writable");
}

// RGB [H, W, 3] of the picture, resized to side x side for display.
inline gradattr::Tensor<std::uint8_t> picture_tensor(const gradattr::io::Image& img, int h, int w) {
  const auto small = (img.height == h && img.width == w) ? img : gradattr::io::resize_image(img, h, w);
  gradattr::Tensor<std::uint8_t> t(gradattr::Shape{h, w, 3});
  std::copy(small.rgb.begin(), small.rgb.end(), t.data());
  return t;
}

// What an NPY input shows: each channel min-max scaled (grey for 1 channel).
inline gradattr::io::Image picture_from_tensor(const gradattr::Tensor<float>& x) {
  gradattr::io::Image img;
  img.height = static_cast<int>(x.dim(2));
  img.width = static_cast<int>(x.dim(3));
  img.rgb.resize(static_cast<std::size_t>(img.width) * img.height * 3);
  const auto C = x.dim(1), P = x.dim(2) * x.dim(3);
  for (int c = 0; c < 3; ++c) {
    const float* src = x.data() + std::min<std::int64_t>(c, C - 1) * P;
    float lo = src[0], hi = src[0];
    for (std::int64_t i = 0; i < P; ++i) lo = std::min(lo, src[i]), hi = std::max(hi, src[i]);
    for (std::int64_t i = 0; i < P; ++i)
      img.rgb[static_cast<std::size_t>(i) * 3 + c] =
          static_cast<std::uint8_t>(hi > lo ? std::lround(255.0 * (src[i] - lo) / (hi - lo)) : 0);
  }
  return img;
}

inline gradattr::Tensor<float> image_row(const gradattr::Tensor<float>& maps, std::int64_t n) {
  return maps.slice_batch(n).reshape(gradattr::Shape{maps.dim(1), maps.dim(2)});
}

inline void print_result(const gradattr::Attribution<float>& r, const std::vector<std::string>& names) {
  for (std::int64_t n = 0; n < r.batch(); ++n) {
    const auto c = r.classes[static_cast<std::size_t>(n)];
    std::printf("%s score=%s layer=%s image=%lld class=%lld%s%s y_c=%.6g z_c=%.6g S=%.6g",
                r.method.c_str(), r.score_space.c_str(), r.layer.c_str(), static_cast<long long>(n),
                static_cast<long long>(c), names.empty() ? "" : " label=", names.empty() ? "" : names[static_cast<std::size_t>(c)].c_str(),
                r.probability[n], r.logit[n], r.score[n]);
    if (!r.completeness_gap.empty())
      std::printf(" completeness=%.6g S(x)-S(x')=%.6g gap=%.6g", r.completeness[n], r.score_difference[n], r.completeness_gap[n]);
    std::printf("\n");
  }
  if (!r.warning.empty()) std::fprintf(stderr, "gradattr: warning: %s\n", r.warning.c_str());
}

// Finite inputs can still overflow the network (NaN or infinite logits): an error, not a map.
inline void check_finite_output(const gradattr::Attribution<float>& r) {
  for (std::int64_t n = 0; n < r.batch(); ++n)
    if (!std::isfinite(r.logit[n]) || !std::isfinite(r.probability[n]))
      throw gradattr::Error("image " + std::to_string(n) + ": the model's output is not finite (logit " +
                            std::to_string(r.logit[n]) + "); the input's values overflow the network?");
}

inline gradattr::RunOptions run_options(const ExplainArgs& a, ProgressBar* bar) {
  if (a.steps < 1) throw UsageError("--steps must be at least 1, got " + std::to_string(a.steps));
  gradattr::RunOptions o;
  o.layer = a.layer;
  o.steps = a.steps;
  o.seed = a.seed;
  if (bar) o.progress = [bar](std::size_t d, std::size_t t) { (*bar)(d, t); };
  return o;
}

inline gradattr::Target target_of(const ExplainArgs& a) {
  if (a.cls.empty()) return gradattr::Target{};
  std::int64_t c = 0;
  const char* end = a.cls.data() + a.cls.size();
  const auto [p, ec] = std::from_chars(a.cls.data(), end, c);
  if (ec == std::errc::result_out_of_range)
    throw UsageError("--class " + a.cls + " is out of range (a class index of the model)");
  if (ec != std::errc() || p != end) throw UsageError("--class must be an integer, got '" + a.cls + "'");
  if (c < 0) throw UsageError("--class must be >= 0, got " + a.cls);
  return gradattr::Target::all(c);
}

inline int run_explain_one(const ExplainArgs& a, Session& s) {
  const auto method = gradattr::parse_method(a.method);
  const auto kind = gradattr::parse_score_kind(a.score);
  const auto& x = s.input.x;
  ProgressBar bar(std::string(gradattr::to_string(method)));
  const auto r = gradattr::run_method(method, kind, s.lm.model, x, target_of(a), run_options(a, &bar));
  bar.finish();
  check_finite_output(r);
  print_result(r, s.lm.model.class_names());
  // Everything is computed before anything is written (a failure leaves no output), and an
  // output that fails to write takes the ones written before it along.
  const auto H = x.dim(2), W = x.dim(3);
  const auto shown = r.displayed(H, W);  // ArgumentError on NaN
  gradattr::Tensor<std::uint8_t> ov;
  if (!a.out.empty()) {
    const auto pic = s.input.from_npy ? picture_from_tensor(x) : s.input.picture;
    ov = gradattr::viz::overlay(picture_tensor(pic, static_cast<int>(H), static_cast<int>(W)), image_row(shown, 0));
  }
  std::vector<std::string> written;
  try {
    if (!a.save_raw.empty()) gradattr::io::write_npy(a.save_raw, r.raw), written.push_back(a.save_raw);
    if (!a.save_map.empty()) gradattr::io::write_npy(a.save_map, shown), written.push_back(a.save_map);
    if (!a.out.empty()) gradattr::io::write_png(a.out, ov.data(), static_cast<int>(W), static_cast<int>(H), 3);
  } catch (...) {
    std::error_code ec;
    for (const auto& p : written) std::filesystem::remove(p, ec);
    throw;
  }
  if (!a.out.empty())
    std::printf("overlay written to %s%s\n", a.out.c_str(), r.batch() > 1 ? " (first image of the batch)" : "");
  return 0;
}

// The main job's panel: every method of the list under every score space.
inline int run_explain_panel(const ExplainArgs& a, Session& s) {
  using gradattr::Method;
  const std::vector<Method> rows = {Method::GradCam, Method::GradCamPlusPlus, Method::RsiGradCam, Method::HiResCam,
                                    Method::IntegratedGradients};
  const std::vector<gradattr::ScoreKind> cols = {gradattr::ScoreKind::Pre, gradattr::ScoreKind::Post,
                                                 gradattr::ScoreKind::LogSoftmax};
  const std::string out = a.out.empty() ? "gradattr_panel.png" : a.out;
  check_writable(out, "--out");
  const auto x = s.input.x.slice_batch(0);
  const int side = std::max<int>(a.tile, static_cast<int>(std::max(x.dim(2), x.dim(3))));
  const auto pic = picture_tensor(s.input.from_npy ? picture_from_tensor(x) : s.input.picture, side, side);
  std::vector<std::vector<gradattr::Tensor<std::uint8_t>>> tiles;
  std::vector<std::string> row_labels, col_labels;
  for (auto k : cols) col_labels.emplace_back(gradattr::score::to_string(k));
  const auto names = s.lm.model.class_names();
  std::printf("%-14s %5s %-10s %9s %9s %9s %9s\n", "method", "class", "label", "y_c", "pre~post", "post~log", "pre~log");
  for (Method m : rows) {
    ProgressBar bar(std::string(gradattr::to_string(m)));
    std::vector<gradattr::Tensor<float>> maps;
    std::vector<gradattr::Tensor<std::uint8_t>> row;
    gradattr::Attribution<float> last;
    for (auto k : cols) {
      last = gradattr::run_method(m, k, s.lm.model, x, target_of(a), run_options(a, &bar));
      check_finite_output(last);
      auto shown = last.displayed(side, side);
      maps.push_back(image_row(shown, 0));
      row.push_back(gradattr::viz::overlay(pic, maps.back()));
    }
    bar.finish();
    tiles.push_back(std::move(row));
    row_labels.emplace_back(gradattr::display_name(m));
    // Agreement of the displayed maps between score spaces (Spearman rank correlation).
    auto rho = [&](int i, int j) { return gradattr::metrics::spearman(maps[static_cast<std::size_t>(i)], maps[static_cast<std::size_t>(j)]); };
    const auto c = last.classes[0];
    std::printf("%-14s %5lld %-10.10s %9.4f %9.4f %9.4f %9.4f\n", std::string(gradattr::display_name(m)).c_str(),
                static_cast<long long>(c), names.empty() ? "" : names[static_cast<std::size_t>(c)].c_str(),
                static_cast<double>(last.probability[0]), rho(0, 1), rho(1, 2), rho(0, 2));
  }
  const auto panel = gradattr::viz::make_panel(tiles, row_labels, col_labels);
  gradattr::io::write_png(out, panel.data(), static_cast<int>(panel.dim(1)), static_cast<int>(panel.dim(0)), 3);
  std::printf("model: %s\npanel written to %s (rows: methods; columns: score spaces)\n", s.lm.description.c_str(), out.c_str());
  return 0;
}

inline int run_explain(const ExplainArgs& a) {
  check_writable(a.out, "--out");
  check_writable(a.save_raw, "--save-raw");
  check_writable(a.save_map, "--save-map");
  if (a.method.empty() && (!a.save_raw.empty() || !a.save_map.empty()))
    throw UsageError("--save-raw and --save-map need --method (the panel has many maps)");
  if (!a.method.empty()) (void)gradattr::parse_method(a.method);  // bad names before loading anything
  (void)gradattr::parse_score_kind(a.score);
  Session s = open_session(a.model);
  return a.method.empty() ? run_explain_panel(a, s) : run_explain_one(a, s);
}

}  // namespace gradattr_cli
