#pragma once
// gradattr explain: one method (and --variant) under one score space (overlay PNG, raw and
// displayed maps as NPY), or, with no --method, the panel of the main job: rows Grad-CAM,
// Grad-CAM++, RSI Grad-CAM, HiResCAM, Integrated Gradients; a column per score space
// (gradattr::kAllScoreKinds); plus a table of how much the score spaces agree, pair by pair.
#include <unistd.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
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
  std::string method, variant, score = "post", layer, out, save_raw, save_map;
  std::string cls;  // empty: the top class; parsed by target_of so that an overflow is reported as given
  std::string steps = "50", samples = "50";  // parsed by parse_count (bounded, overflow reported as given)
  unsigned long long seed = 0;
  bool json = false;
  int tile = 112;  // panel tile side (pixels)
};

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
    say("%s score=%s layer=%s image=%lld class=%lld%s%s y_c=%.6g z_c=%.6g S=%.6g",
                r.method.c_str(), r.score_space.c_str(), r.layer.c_str(), static_cast<long long>(n),
                static_cast<long long>(c), names.empty() ? "" : " label=", names.empty() ? "" : names[static_cast<std::size_t>(c)].c_str(),
                r.probability[n], r.logit[n], r.score[n]);
    if (!r.completeness_gap.empty())
      say(" completeness=%.6g S(x)-S(x')=%.6g gap=%.6g", r.completeness[n], r.score_difference[n], r.completeness_gap[n]);
    say("\n");
  }
}

inline nlohmann::ordered_json result_json(const gradattr::Attribution<float>& r, const std::vector<std::string>& names) {
  auto images = nlohmann::ordered_json::array();
  for (std::int64_t n = 0; n < r.batch(); ++n) {
    const auto c = r.classes[static_cast<std::size_t>(n)];
    nlohmann::ordered_json e;
    e["image"] = n;
    e["class"] = c;
    e["label"] = names.empty() ? "" : names[static_cast<std::size_t>(c)];
    e["y_c"] = json_number(r.probability[n]);
    e["z_c"] = json_number(r.logit[n]);
    e["S"] = json_number(r.score[n]);
    if (!r.completeness_gap.empty()) {
      e["completeness"] = json_number(r.completeness[n]);
      e["S(x)-S(x')"] = json_number(r.score_difference[n]);
      e["gap"] = json_number(r.completeness_gap[n]);
    }
    images.push_back(e);
  }
  return images;
}

// Finite inputs can still overflow the network (NaN or infinite logits): an error, not a map.
inline void check_finite_output(const gradattr::Attribution<float>& r) {
  for (std::int64_t n = 0; n < r.batch(); ++n)
    if (!std::isfinite(r.logit[n]) || !std::isfinite(r.probability[n]))
      throw gradattr::Error("image " + std::to_string(n) + ": the model's output is not finite (logit " +
                            std::to_string(r.logit[n]) + "); the input's values overflow the network?");
}

inline gradattr::RunOptions run_options(const ExplainArgs& a, ProgressBar* bar) {
  gradattr::RunOptions o;
  o.layer = a.layer;
  o.steps = parse_count("--steps", a.steps, kMaxSteps);
  o.samples = parse_count("--samples", a.samples, kMaxSamples);
  o.seed = a.seed;
  o.variant = a.variant;
  if (bar) o.progress = [bar](std::size_t d, std::size_t t) { (*bar)(d, t); };
  return o;
}

// --class: empty for the top class; UsageError for what is not a class index.
inline std::optional<std::int64_t> class_of(const ExplainArgs& a) {
  if (a.cls.empty()) return std::nullopt;
  std::int64_t c = 0;
  const char* end = a.cls.data() + a.cls.size();
  const auto [p, ec] = std::from_chars(a.cls.data(), end, c);
  if (ec == std::errc::result_out_of_range)
    throw UsageError("--class " + a.cls + " is out of range (a class index of the model)");
  if (ec != std::errc() || p != end) throw UsageError("--class must be an integer, got '" + a.cls + "'");
  if (c < 0) throw UsageError("--class must be >= 0, got " + a.cls);
  return c;
}

inline gradattr::Target target_of(const ExplainArgs& a) {
  const auto c = class_of(a);
  return c ? gradattr::Target::all(*c) : gradattr::Target{};
}

inline gradattr::Method method_of(const std::string& name) {
  return flag_value("--method", [&] { return gradattr::parse_method(name); });
}
// --variant: UsageError unless it is one of the method's variants (listing them).
inline void check_variant(const ExplainArgs& a) {
  if (a.variant.empty()) return;
  if (a.method.empty()) throw UsageError("--variant needs --method (the panel runs every method's default)");
  (void)flag_value("--variant", [&] { return gradattr::parse_variant(method_of(a.method), a.variant); });
}
inline gradattr::ScoreKind score_of(const std::string& name) {
  return flag_value("--score", [&] { return gradattr::parse_score_kind(name); });
}

// Writes the outputs in order; if one fails, the files created before it are removed again (a
// device, a FIFO or standard output cannot take its bytes back; a replaced file stays replaced).
inline void write_outputs(const std::vector<std::pair<std::string, std::function<void(const std::string&)>>>& outputs) {
  std::vector<std::filesystem::path> created;
  try {
    for (const auto& [path, write] : outputs) {
      if (path.empty()) continue;
      const auto t = gradattr::io::detail::resolve_output(path, path);
      write(path);
      if (t.kind == gradattr::io::detail::OutputTarget::Missing) created.push_back(t.path);
    }
  } catch (...) {
    std::error_code ec;
    for (const auto& p : created) std::filesystem::remove(p, ec);
    throw;
  }
}

inline std::string shown_path(const std::string& p) { return p == "-" ? "standard output" : p; }

inline int run_explain_one(const ExplainArgs& a, Session& s) {
  const auto method = method_of(a.method);
  const auto kind = score_of(a.score);
  const auto& x = s.input.x;
  ProgressBar bar(std::string(gradattr::to_string(method)));
  const auto r = gradattr::run_method(method, kind, s.lm.model, x, target_of(a), run_options(a, &bar));
  bar.finish();
  check_finite_output(r);
  if (!a.json) print_result(r, s.lm.model.class_names());
  // Everything is computed before anything is written (a failure leaves no output), and an
  // output that fails to write takes the ones written before it along.
  const auto H = x.dim(2), W = x.dim(3);
  const auto shown = r.displayed(H, W);  // ArgumentError on NaN
  gradattr::Tensor<std::uint8_t> ov;
  if (!a.out.empty()) {
    const auto pic = s.input.from_npy ? picture_from_tensor(x) : s.input.picture;
    ov = gradattr::viz::overlay(picture_tensor(pic, static_cast<int>(H), static_cast<int>(W)), image_row(shown, 0));
  }
  write_outputs({{a.save_raw, [&](const std::string& p) { gradattr::io::write_npy(p, r.raw); }},
                 {a.save_map, [&](const std::string& p) { gradattr::io::write_npy(p, shown); }},
                 {a.out, [&](const std::string& p) {
                    gradattr::io::write_png(p, ov.data(), static_cast<int>(W), static_cast<int>(H), 3);
                  }}});
  // After the outputs: a run that fails has one line on stderr, its error.
  if (!r.warning.empty()) std::fprintf(stderr, "gradattr: warning: %s\n", r.warning.c_str());
  if (a.json) {
    nlohmann::ordered_json j;
    j["model"] = s.lm.description;
    j["method"] = r.method;
    j["variant"] = a.variant.empty() ? std::string(gradattr::default_variant(method)) : a.variant;
    j["score"] = r.score_space;
    j["layer"] = r.layer;
    j["images"] = result_json(r, s.lm.model.class_names());
    j["warning"] = r.warning;
    j["outputs"] = {{"out", a.out}, {"save_raw", a.save_raw}, {"save_map", a.save_map}};
    print_json(j);
  } else if (!a.out.empty()) {
    say("overlay written to %s%s\n", shown_path(a.out).c_str(), r.batch() > 1 ? " (first image of the batch)" : "");
  }
  return 0;
}

// The main job's panel: every method of the list under every score space.
inline int run_explain_panel(const ExplainArgs& a, Session& s) {
  using gradattr::Method;
  const std::vector<Method> rows = {Method::GradCam, Method::GradCamPlusPlus, Method::RsiGradCam, Method::HiResCam,
                                    Method::IntegratedGradients};
  const std::vector<gradattr::ScoreKind> cols(gradattr::kAllScoreKinds.begin(), gradattr::kAllScoreKinds.end());
  std::vector<std::pair<std::size_t, std::size_t>> pairs;  // every pair of score spaces, in list order
  for (std::size_t i = 0; i < cols.size(); ++i)
    for (std::size_t j = i + 1; j < cols.size(); ++j) pairs.emplace_back(i, j);
  const std::string out = a.out.empty() ? "gradattr_panel.png" : a.out;
  const auto x = s.input.x.slice_batch(0);
  const int side = std::max<int>(a.tile, static_cast<int>(std::max(x.dim(2), x.dim(3))));
  const auto pic = picture_tensor(s.input.from_npy ? picture_from_tensor(x) : s.input.picture, side, side);
  std::vector<std::vector<gradattr::Tensor<std::uint8_t>>> tiles;
  std::vector<std::string> row_labels, col_labels;
  for (auto k : cols) col_labels.emplace_back(gradattr::score::to_string(k));
  auto pair_name = [&](const std::pair<std::size_t, std::size_t>& p) { return col_labels[p.first] + "~" + col_labels[p.second]; };
  const auto names = s.lm.model.class_names();
  if (!a.json) {
    say("%-14s %5s %-10s %9s", "method", "class", "label", "y_c");
    for (const auto& p : pairs) say(" %14s", pair_name(p).c_str());
    say("\n");
  }
  auto json_rows = nlohmann::ordered_json::array();
  ProgressBar bar("panel");
  std::size_t stage = 0;
  for (Method m : rows) {
    std::vector<gradattr::Tensor<float>> maps;
    std::vector<gradattr::Tensor<std::uint8_t>> row;
    gradattr::Attribution<float> last;
    for (auto k : cols) {
      bar.stage(stage++, rows.size() * cols.size());
      last = gradattr::run_method(m, k, s.lm.model, x, target_of(a), run_options(a, &bar));
      check_finite_output(last);
      auto shown = last.displayed(side, side);
      maps.push_back(image_row(shown, 0));
      row.push_back(gradattr::viz::overlay(pic, maps.back()));
    }
    tiles.push_back(std::move(row));
    row_labels.emplace_back(gradattr::display_name(m));
    // Agreement of the displayed maps between score spaces (Spearman rank correlation).
    auto rho = [&](const std::pair<std::size_t, std::size_t>& p) { return gradattr::metrics::spearman(maps[p.first], maps[p.second]); };
    const auto c = last.classes[0];
    const std::string label = names.empty() ? "" : names[static_cast<std::size_t>(c)];
    if (a.json) {
      nlohmann::ordered_json j;
      j["method"] = std::string(gradattr::to_string(m));
      j["display"] = std::string(gradattr::display_name(m));
      j["class"] = c;
      j["label"] = label;
      j["y_c"] = json_number(last.probability[0]);
      nlohmann::ordered_json sp;
      for (const auto& p : pairs) sp[pair_name(p)] = json_number(rho(p));
      j["spearman"] = sp;
      json_rows.push_back(j);
    } else {
      say("%-14s %5lld %-10.10s %9.4f", std::string(gradattr::display_name(m)).c_str(), static_cast<long long>(c), label.c_str(),
          static_cast<double>(last.probability[0]));
      for (const auto& p : pairs) say(" %14.4f", rho(p));
      say("\n");
    }
  }
  bar.finish();
  const auto panel = gradattr::viz::make_panel(tiles, row_labels, col_labels);
  gradattr::io::write_png(out, panel.data(), static_cast<int>(panel.dim(1)), static_cast<int>(panel.dim(0)), 3);
  if (a.json) {
    nlohmann::ordered_json j;
    j["model"] = s.lm.description;
    j["panel"] = out;
    j["columns"] = col_labels;
    j["rows"] = json_rows;
    print_json(j);
  } else {
    say("model: %s\npanel written to %s (rows: methods; columns: score spaces)\n", s.lm.description.c_str(),
        shown_path(out).c_str());
  }
  return 0;
}

inline int run_explain(const ExplainArgs& a) {
  // The command line first (exit 2), before any file is opened or anything computed.
  if (a.method.empty() && (!a.save_raw.empty() || !a.save_map.empty()))
    throw UsageError("--save-raw and --save-map need --method (the panel has many maps)");
  const bool layer_method = a.method.empty() || gradattr::is_layer_method(method_of(a.method));
  // An attention method combines every attention layer of the model: a --layer would be ignored.
  if (!a.method.empty() && !a.layer.empty() && gradattr::is_attention_method(method_of(a.method)))
    throw UsageError("--layer does not apply to --method " + a.method +
                     ": attention methods combine every attention layer of the model (docs/methods.md)");
  (void)score_of(a.score);
  check_variant(a);
  (void)run_options(a, nullptr);  // --steps, --samples
  const auto cls = class_of(a);
  check_outputs({{"--out", a.method.empty() && a.out.empty() ? std::string("gradattr_panel.png") : a.out},
                 {"--save-raw", a.save_raw},
                 {"--save-map", a.save_map}},
                a.json);
  Session s = open_session(a.model);
  (void)check_layer(s.lm.model, a.layer, layer_method);
  if (!a.method.empty()) check_method_model(s.lm.model, method_of(a.method));
  if (cls) check_class(*cls, s.lm.model.num_classes(), a.cls);
  return a.method.empty() ? run_explain_panel(a, s) : run_explain_one(a, s);
}

}  // namespace gradattr_cli
