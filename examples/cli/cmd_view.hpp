#pragma once
// gradattr view results.sqlite --out gallery/: a static HTML gallery of a sweep database
// (docs/sweep.md, "Gallery"; docs/cli.md). No server and nothing from the network: it opens
// from the file system. index.html: one table row per result row, sortable by y_c, 1 - y_c
// (saturation) and the metrics, filtered by class and method (a few lines of inline JS);
// images/<idx>.html: the input and its maps as a grid of methods x score spaces, the class, y_c
// and the metrics under each. The overlays are drawn here from the stored raw maps (--save-maps)
// with gradattr/viz; the inputs are not in the database and are re-read from the run's source
// (its recorded path, IDX file and record) and checked against the recorded SHA-256: a page
// says so when that is impossible. Written under a temporary directory, renamed when complete.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gradattr/attribution/display.hpp>
#include <gradattr/io/image.hpp>
#include <gradattr/io/preprocess.hpp>
#include <gradattr/sweep/sources.hpp>
#include <gradattr/sweep/sqlite.hpp>
#include <gradattr/sweep/store.hpp>
#include <gradattr/viz/colormap.hpp>
#include <gradattr/viz/overlay.hpp>

#include "common.hpp"

namespace gradattr_cli {

struct ViewArgs {
  std::string db, out, limit;
  std::optional<std::int64_t> run;
};

namespace view_detail {

inline constexpr const char* kMarker = ".gradattr-gallery";  // in every gallery: a rerun may replace it
inline constexpr int kTile = 112;                            // overlay side (pixels)

inline std::string html(const std::string& s) {
  std::string o;
  for (char c : s) {
    switch (c) {
      case '&': o += "&amp;"; break;
      case '<': o += "&lt;"; break;
      case '>': o += "&gt;"; break;
      case '"': o += "&quot;"; break;
      case '\'': o += "&#39;"; break;
      default: o += c;
    }
  }
  return o;
}

inline std::string num(const std::optional<double>& v, const char* fmt = "%.4g") {
  if (!v) return "";
  char b[40];
  std::snprintf(b, sizeof b, fmt, *v);
  return b;
}

struct Row {
  std::string method, variant, score, error;
  std::optional<std::int64_t> cls;
  std::optional<double> y_c, z_c, s, gradient_norm, completeness_gap, deletion, insertion;
  std::vector<float> map;
  std::vector<std::int64_t> shape;
  std::string png;  // the overlay, relative to the gallery ("" when no map)
  std::string job() const { return method + (variant.empty() ? "" : "/" + variant); }
};

struct Page {
  std::int64_t idx = 0;
  std::string name, sha256;
  std::optional<std::int64_t> label;
  std::vector<Row> rows;
  std::string input_png;   // "" when the input could not be re-read
  std::string input_note;  // why not
};

// Removes a directory tree unless disarmed.
struct TreeRemoval {
  std::filesystem::path path;
  bool armed = true;
  ~TreeRemoval() {
    std::error_code ec;
    if (armed) std::filesystem::remove_all(path, ec);
  }
};

// The displayed map of one stored raw map ([h, w] layer, [C, H, W] input) at side x side.
inline gradattr::Tensor<float> displayed(const Row& r, int side) {
  const auto& sh = r.shape;
  std::int64_t n = 1;
  for (auto d : sh) n *= d;
  if ((sh.size() != 2 && sh.size() != 3) || n != static_cast<std::int64_t>(r.map.size()) || n == 0)
    throw gradattr::FormatError("a stored map of shape " + nlohmann::json(sh).dump() + " and " + std::to_string(r.map.size()) + " values");
  const std::int64_t H = sh[sh.size() - 2], W = sh[sh.size() - 1], C = sh.size() == 3 ? sh[0] : 1;
  gradattr::Tensor<float> m(gradattr::Shape{H, W});
  const bool max_abs = r.method == "saliency" && (r.variant.empty() || r.variant == "max-abs");  // Attribution::displayed
  for (std::int64_t i = 0; i < H * W; ++i) {
    double acc = 0;
    for (std::int64_t c = 0; c < C; ++c) {
      const double v = r.map[static_cast<std::size_t>(c * H * W + i)];
      acc = max_abs ? std::max(acc, std::abs(v)) : acc + v;
    }
    m[i] = static_cast<float>(acc);
  }
  return gradattr::display_map(m, side, side);
}

inline void write_rgb(const std::filesystem::path& p, const gradattr::Tensor<std::uint8_t>& t) {
  gradattr::io::write_png(p, t.data(), static_cast<int>(t.dim(1)), static_cast<int>(t.dim(0)), 3);
}

inline const char* kStyle =
    "body{font-family:sans-serif;margin:1em;color:#222}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
    "padding:3px 6px;font-size:13px;text-align:left;vertical-align:top}th.s{cursor:pointer;background:#eee}"
    ".cell{font-size:12px}.err{color:#b00}.note{color:#b00;font-weight:bold}img.px{image-rendering:pixelated}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}";

}  // namespace view_detail

inline int run_view(const ViewArgs& a) {
  namespace fs = std::filesystem;
  namespace sw = gradattr::sweep;
  using namespace view_detail;
  if (a.db.empty()) throw UsageError("view needs a sweep database");
  if (a.out.empty()) throw UsageError("--out DIR is required (the gallery's directory)");
  const std::int64_t limit = a.limit.empty() ? 0 : parse_count("--limit", a.limit, std::int64_t{1} << 40);
  std::error_code ec;
  const fs::path out = fs::path(a.out).lexically_normal();
  const fs::path target = out.has_filename() ? out : out.parent_path();  // "gallery/" -> "gallery"
  if (fs::exists(fs::symlink_status(target, ec)) && !(fs::is_directory(target, ec) && fs::exists(target / kMarker, ec)))
    throw gradattr::IoError("--out '" + a.out + "' exists and is not a gallery written by gradattr view (remove it or choose another path)");

  // The run.
  std::int64_t run = 0;
  sw::RunInfo info;
  {
    const sw::Store st = sw::Store::open_read_only(a.db);
    const auto ids = st.runs();
    if (ids.empty()) throw gradattr::Error("database '" + a.db + "' holds no run");
    run = ids.back();
    if (a.run) {
      if (std::find(ids.begin(), ids.end(), *a.run) == ids.end())
        throw gradattr::Error("database '" + a.db + "' has no run " + std::to_string(*a.run));
      run = *a.run;
    }
    info = st.run_info(run);
  }
  // Read-write when allowed, as Store::open_read_only: nothing is written, and the last connection
  // to close folds the WAL back (a read-only one would leave -wal and -shm behind).
  const sw::sql::Db db(a.db, ::access(a.db.c_str(), W_OK) == 0 ? SQLITE_OPEN_READWRITE : SQLITE_OPEN_READONLY);
  std::vector<Page> pages;
  {
    sw::sql::Stmt im(db, "SELECT id, idx, name, label, sha256 FROM images WHERE run_id = ? ORDER BY idx" +
                             (limit ? " LIMIT " + std::to_string(limit) : std::string()));
    im.bind(1, run);
    while (im.step()) {
      Page p;
      p.idx = im.int64(1);
      p.name = im.text(2);
      p.label = im.opt_int64(3);
      p.sha256 = im.is_null(4) ? "" : im.text(4);
      sw::sql::Stmt rs(db, "SELECT method, variant, score, class, y_c, z_c, s, gradient_norm, completeness_gap, deletion_auc, "
                           "insertion_auc, map, map_shape, error FROM results WHERE image_id = ? ORDER BY method, variant, score");
      rs.bind(1, im.int64(0));
      while (rs.step()) {
        Row r{rs.text(0), rs.text(1), rs.text(2), rs.is_null(13) ? "" : rs.text(13), rs.opt_int64(3), rs.opt_real(4), rs.opt_real(5),
              rs.opt_real(6), rs.opt_real(7), rs.opt_real(8), rs.opt_real(9), rs.opt_real(10), {}, {}, ""};
        if (!rs.is_null(11)) {
          const auto b = rs.blob(11);
          r.map.resize(b.size() / sizeof(float));
          std::memcpy(r.map.data(), b.data(), r.map.size() * sizeof(float));
          try {
            r.shape = nlohmann::json::parse(rs.text(12)).get<std::vector<std::int64_t>>();
          } catch (const nlohmann::json::exception&) {
            throw gradattr::FormatError("database '" + a.db + "': malformed map_shape '" + rs.text(12) + "'");
          }
        }
        p.rows.push_back(std::move(r));
      }
      pages.push_back(std::move(p));
    }
  }
  if (pages.empty()) throw gradattr::Error("database '" + a.db + "': run " + std::to_string(run) + " holds no images");

  // The model's preprocessing (what the model saw) and class names, when its file is still there.
  std::optional<LoadedModel> lm;
  try {
    if (info.model == "embedded") lm.emplace(default_model());
    else lm.emplace(load_model_file(info.model));
  } catch (const std::exception&) {
    lm.reset();  // the pictures are then plainly resized; names are not shown
  }
  auto class_text = [&](const std::optional<std::int64_t>& c) -> std::string {
    if (!c) return "";
    std::string t = std::to_string(*c);
    if (lm && *c >= 0 && *c < static_cast<std::int64_t>(lm->model.class_names().size()))
      t += " (" + lm->model.class_names()[static_cast<std::size_t>(*c)] + ")";
    return t;
  };
  // The source, opened as the sweep opened it.
  std::optional<sw::ImageSource> src;
  std::string src_note;
  try {
    const std::string kind = info.options.value("source", std::string());
    const sw::SourceKind k = kind == "images" ? sw::SourceKind::Directory : kind == "manifest" ? sw::SourceKind::Manifest : sw::SourceKind::Idx;
    if (kind != "images" && kind != "manifest" && kind != "idx") throw gradattr::FormatError("unknown source '" + kind + "'");
    src.emplace(sw::SourceSpec{k, info.options.value("path", std::string()), info.options.value("--labels", std::string())});
  } catch (const std::exception& e) {
    src_note = std::string("the sweep's source cannot be opened: ") + e.what();
  }

  // Everything goes to a temporary directory next to --out, renamed when complete.
  const fs::path parent = target.has_parent_path() ? target.parent_path() : fs::path(".");
  const fs::path tmp = parent / (target.filename().string() + ".tmp-view-" + std::to_string(getpid()));
  fs::remove_all(tmp, ec);
  TreeRemoval cleanup{tmp};
  fs::create_directories(tmp / "images", ec);
  fs::create_directories(tmp / "png", ec);
  if (ec) throw gradattr::IoError("--out '" + a.out + "': cannot create '" + tmp.string() + "': " + ec.message());

  std::int64_t maps = 0, inputs = 0, missing_maps = 0;
  std::set<std::string> notes;
  for (auto& p : pages) {
    std::optional<gradattr::Tensor<std::uint8_t>> pic;
    if (!src) {
      p.input_note = src_note;
    } else if (p.idx >= src->size()) {
      p.input_note = "the source '" + src->spec().path + "' now lists " + std::to_string(src->size()) + " images, not image " + std::to_string(p.idx);
    } else {
      try {
        std::string sha;
        const auto img = src->read(p.idx, &sha);
        if (!p.sha256.empty() && sha != p.sha256)
          throw gradattr::Error("'" + src->item(p.idx).name + "' changed since the sweep (its SHA-256 differs)");
        const auto shown = lm ? image_input(img.picture, lm->input).picture : img.picture;
        const auto small = gradattr::io::resize_image(shown, kTile, kTile);
        gradattr::Tensor<std::uint8_t> t(gradattr::Shape{kTile, kTile, 3});
        std::copy(small.rgb.begin(), small.rgb.end(), t.data());
        pic = std::move(t);
        p.input_png = "png/" + std::to_string(p.idx) + "_input.png";
        write_rgb(tmp / p.input_png, *pic);
        ++inputs;
      } catch (const gradattr::Error& e) {
        p.input_note = std::string("cannot re-read the input: ") + e.what();
      }
    }
    if (!p.input_note.empty()) notes.insert(p.input_note);
    for (std::size_t k = 0; k < p.rows.size(); ++k) {
      auto& r = p.rows[k];
      if (r.map.empty()) {
        missing_maps += r.error.empty();
        continue;
      }
      const auto m = displayed(r, kTile);
      const auto ov = pic ? gradattr::viz::overlay(*pic, m) : gradattr::viz::colorize(m);
      r.png = "png/" + std::to_string(p.idx) + "_" + std::to_string(k) + ".png";
      write_rgb(tmp / r.png, ov);
      ++maps;
    }
  }

  auto write_text = [&](const fs::path& rel, const std::string& text) {
    std::ofstream f(tmp / rel, std::ios::binary);
    f << text;
    f.close();
    if (!f) throw gradattr::IoError("--out '" + a.out + "': cannot write '" + (tmp / rel).string() + "'");
  };
  const std::string head_common = "<meta charset=\"utf-8\"><link rel=\"icon\" href=\"data:,\"><style>" + std::string(kStyle) + "</style>";
  const std::string title = html(fs::path(a.db).filename().string()) + ", run " + std::to_string(run);

  // Image pages: the input and the grid methods x score spaces.
  for (std::size_t n = 0; n < pages.size(); ++n) {
    const auto& p = pages[n];
    std::vector<std::string> jobs, scores;
    for (const auto& r : p.rows) {
      if (std::find(jobs.begin(), jobs.end(), r.job()) == jobs.end()) jobs.push_back(r.job());
      if (std::find(scores.begin(), scores.end(), r.score) == scores.end()) scores.push_back(r.score);
    }
    std::string h = "<!DOCTYPE html><html><head>" + head_common + "<title>image " + std::to_string(p.idx) + " - " + title +
                    "</title></head><body>\n<p><a href=\"../index.html\">index</a>";
    if (n > 0) h += " | <a href=\"" + std::to_string(pages[n - 1].idx) + ".html\">previous</a>";
    if (n + 1 < pages.size()) h += " | <a href=\"" + std::to_string(pages[n + 1].idx) + ".html\">next</a>";
    h += "</p>\n<h1>image " + std::to_string(p.idx) + "</h1>\n<p>" + html(p.name) + "<br>label: " +
         (p.label ? html(class_text(p.label)) : std::string("none")) + "<br>SHA-256: " + html(p.sha256) + "</p>\n";
    if (!p.input_png.empty())
      h += "<p><img class=\"px input\" src=\"../" + p.input_png + "\" width=\"" + std::to_string(kTile) + "\" height=\"" +
           std::to_string(kTile) + "\" alt=\"input\"></p>\n";
    else
      h += "<p class=\"note\">input not shown: " + html(p.input_note) + " (the maps are drawn without it)</p>\n";
    h += "<table><tr><th>method</th>";
    for (const auto& s : scores) h += "<th>" + html(s) + "</th>";
    h += "</tr>\n";
    for (const auto& j : jobs) {
      h += "<tr><th>" + html(j) + "</th>";
      for (const auto& s : scores) {
        const Row* r = nullptr;
        for (const auto& x : p.rows)
          if (x.job() == j && x.score == s) r = &x;
        h += "<td class=\"cell\">";
        if (!r) {
          h += "</td>";
          continue;
        }
        if (!r->png.empty())
          h += "<img class=\"px map\" src=\"../" + r->png + "\" width=\"" + std::to_string(kTile) + "\" height=\"" + std::to_string(kTile) +
               "\" alt=\"" + html(j + " " + s) + "\"><br>";
        else if (r->error.empty())
          h += "<span class=\"note\">no map stored (sweep without --save-maps)</span><br>";
        if (!r->error.empty()) {
          h += "<span class=\"err\">failed: " + html(r->error) + "</span>";
        } else {
          h += "class " + html(class_text(r->cls)) + "<br>y_c " + num(r->y_c) + " (1&minus;y_c " + num(r->y_c ? std::optional<double>(1 - *r->y_c) : std::nullopt, "%.2e") +
               ")<br>S " + num(r->s);
          if (r->deletion) h += "<br>deletion AUC " + num(r->deletion);
          if (r->insertion) h += "<br>insertion AUC " + num(r->insertion);
          if (r->gradient_norm) h += "<br>&Vert;&part;S&Vert; " + num(r->gradient_norm);
          if (r->completeness_gap) h += "<br>completeness gap " + num(r->completeness_gap);
        }
        h += "</td>";
      }
      h += "</tr>\n";
    }
    h += "</table>\n</body></html>\n";
    write_text(fs::path("images") / (std::to_string(p.idx) + ".html"), h);
  }

  // The index: one row per result row; sort by clicking a numeric header, filter by class and method.
  std::set<std::string> methods;
  std::set<std::int64_t> classes;
  for (const auto& p : pages)
    for (const auto& r : p.rows) {
      methods.insert(r.method);
      if (r.cls) classes.insert(*r.cls);
    }
  std::string h = "<!DOCTYPE html><html><head>" + head_common + "<title>" + title + "</title></head><body>\n<h1>" + title + "</h1>\n<p>model " +
                  html(info.model) + ", options <code>" + html(info.options.dump()) + "</code><br>" + std::to_string(pages.size()) +
                  " image(s); click y_c, 1&minus;y_c or a metric to sort.</p>\n";
  for (const auto& n : notes) h += "<p class=\"note\">" + html(n) + "</p>\n";
  h += "<p>class <select id=\"fclass\"><option value=\"\">all</option>";
  for (auto c : classes) h += "<option value=\"" + std::to_string(c) + "\">" + html(class_text(c)) + "</option>";
  h += "</select> method <select id=\"fmethod\"><option value=\"\">all</option>";
  for (const auto& m : methods) h += "<option value=\"" + html(m) + "\">" + html(m) + "</option>";
  h += "</select> <span id=\"shown\"></span></p>\n<table id=\"rows\"><thead><tr><th>map</th><th>image</th><th>label</th><th>method</th>"
       "<th>score</th><th>class</th><th class=\"s\" data-col=\"6\">y_c</th><th class=\"s\" data-col=\"7\">1&minus;y_c</th>"
       "<th class=\"s\" data-col=\"8\">deletion AUC</th><th class=\"s\" data-col=\"9\">insertion AUC</th><th>error</th></tr></thead><tbody>\n";
  for (const auto& p : pages)
    for (const auto& r : p.rows) {
      auto cell = [](const std::optional<double>& v, const char* fmt = "%.4g") {
        return "<td class=\"n\" data-v=\"" + (v ? num(v, "%.17g") : std::string("")) + "\">" + num(v, fmt) + "</td>";
      };
      const std::string link = "images/" + std::to_string(p.idx) + ".html";
      h += "<tr data-class=\"" + (r.cls ? std::to_string(*r.cls) : std::string()) + "\" data-method=\"" + html(r.method) + "\"><td>" +
           (r.png.empty() ? std::string() : "<a href=\"" + link + "\"><img class=\"px thumb\" src=\"" + r.png + "\" width=\"28\" height=\"28\" alt=\"\"></a>") +
           "</td><td><a href=\"" + link + "\">" + std::to_string(p.idx) + "</a> " + html(p.name) + "</td><td>" +
           (p.label ? std::to_string(*p.label) : std::string()) + "</td><td>" + html(r.job()) + "</td><td>" + html(r.score) + "</td><td>" +
           html(class_text(r.cls)) + "</td>" + cell(r.y_c) + cell(r.y_c ? std::optional<double>(1 - *r.y_c) : std::nullopt, "%.2e") +
           cell(r.deletion) + cell(r.insertion) + "<td class=\"err\">" + html(r.error) + "</td></tr>\n";
    }
  h += R"(</tbody></table>
<script>
"use strict";
(function () {
  var body = document.querySelector("#rows tbody"), dir = {};
  function filter() {
    var c = document.getElementById("fclass").value, m = document.getElementById("fmethod").value, n = 0;
    Array.prototype.forEach.call(body.rows, function (r) {
      var on = (c === "" || r.dataset.class === c) && (m === "" || r.dataset.method === m);
      r.style.display = on ? "" : "none";
      if (on) n++;
    });
    document.getElementById("shown").textContent = n + " of " + body.rows.length + " rows";
  }
  document.querySelectorAll("th.s").forEach(function (th) {
    th.addEventListener("click", function () {
      var col = +th.dataset.col, d = dir[col] = -(dir[col] || -1);
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.v, y = b.cells[col].dataset.v;
        if (x === "" || y === "") return (x === "") - (y === "");  // empty cells last
        return d * (parseFloat(x) - parseFloat(y));
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
  document.getElementById("fclass").addEventListener("change", filter);
  document.getElementById("fmethod").addEventListener("change", filter);
  filter();
})();
</script>
</body></html>
)";
  write_text("index.html", h);
  write_text(kMarker, "written by gradattr view from " + a.db + "\n");

  // In place: an older gallery is moved aside, the new one renamed in, the old one removed.
  const fs::path old = parent / (target.filename().string() + ".old-view-" + std::to_string(getpid()));
  const bool replacing = fs::exists(target, ec);
  if (replacing) {
    fs::rename(target, old, ec);
    if (ec) throw gradattr::IoError("--out '" + a.out + "': cannot move the old gallery aside: " + ec.message());
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    std::error_code ec2;
    if (replacing) fs::rename(old, target, ec2);
    throw gradattr::IoError("--out '" + a.out + "': cannot rename '" + tmp.string() + "': " + ec.message());
  }
  cleanup.armed = false;
  if (replacing) fs::remove_all(old, ec);
  say("view: %zu image page(s), %lld map(s) in %s (open %s); inputs: %lld shown, %lld not%s%s\n", pages.size(),
      static_cast<long long>(maps), target.c_str(), (target / "index.html").c_str(), static_cast<long long>(inputs),
      static_cast<long long>(pages.size()) - inputs, notes.empty() ? "" : ": ", notes.empty() ? "" : notes.begin()->c_str());
  if (missing_maps)
    say("view: %lld row(s) have no stored map (the sweep ran without --save-maps): their cells show the numbers only\n",
        static_cast<long long>(missing_maps));
  return 0;
}

}  // namespace gradattr_cli
