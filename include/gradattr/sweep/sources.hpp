#pragma once
// The images of a sweep (docs/sweep.md): a directory of PNG/JPEG files, a manifest listing
// image paths (optionally with labels), or an IDX image file (optionally with an IDX label
// file). The list is fixed when the source is opened, in a deterministic order, so that an
// image's index is the same in every run, every shard and every resumed run.
//
//   ImageSource s(SourceSpec{.kind = SourceKind::Directory, .path = "imgs"});
//   s.size(); s.item(i).name; auto img = s.read(i);   // img.picture (RGB), img.sha256
//
// Errors: opening a source that is missing or malformed (the directory, the manifest, an IDX
// file, a label count) throws (IoError / FormatError naming the file and, for a manifest, the
// line): the sweep cannot start. read(i) of an image that is missing or malformed throws
// gradattr::Error naming it: the sweep records a failed row and goes on.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "gradattr/core/error.hpp"
#include "gradattr/io/detail/file.hpp"
#include "gradattr/io/idx.hpp"
#include "gradattr/io/image.hpp"
#include "gradattr/io/sha256.hpp"

namespace gradattr::sweep {

enum class SourceKind { Directory, Manifest, Idx };

inline const char* to_string(SourceKind k) noexcept {
  return k == SourceKind::Directory ? "images" : k == SourceKind::Manifest ? "manifest" : "idx";
}

struct SourceSpec {
  SourceKind kind = SourceKind::Directory;
  std::string path;    // the directory, the manifest, or the IDX image file
  std::string labels;  // IDX label file (Idx only); empty: no labels
};

struct SourceItem {
  std::string name;                 // the image's path, or "<idx file>#<record>"
  std::string path;                 // the file (empty for an IDX record)
  std::int64_t record = -1;         // the IDX record (-1 for a file)
  std::optional<std::int64_t> label;
};

struct SourceImage {
  io::Image picture;   // RGB, as decoded (an IDX record: its grey value in the three channels)
  std::string sha256;  // of the file's bytes, or of the IDX record's rows*cols bytes
};

namespace sources_detail {
inline bool is_image_name(const std::filesystem::path& p) {
  std::string e = p.extension().string();
  std::transform(e.begin(), e.end(), e.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return e == ".png" || e == ".jpg" || e == ".jpeg";
}
inline std::string trim(const std::string& s) {
  const auto b = s.find_first_not_of(" \t\r");
  if (b == std::string::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r") - b + 1);
}
}  // namespace sources_detail

class ImageSource {
 public:
  explicit ImageSource(SourceSpec spec) : spec_(std::move(spec)) {
    namespace fs = std::filesystem;
    if (spec_.kind != SourceKind::Idx && !spec_.labels.empty())
      throw ArgumentError("an IDX label file goes with an IDX image file only");
    if (spec_.kind == SourceKind::Directory) {
      std::error_code ec;
      if (!fs::is_directory(spec_.path, ec)) throw IoError("--images: " + io::detail::quoted(spec_.path) + " is not a directory");
      std::vector<fs::path> files;
      for (fs::directory_iterator it(spec_.path, ec), end; !ec && it != end; it.increment(ec))
        if (!it->is_directory() && is_image_file(it->path())) files.push_back(it->path());
      if (ec) throw IoError("--images: cannot list " + io::detail::quoted(spec_.path) + ": " + ec.message());
      std::sort(files.begin(), files.end());  // byte order of the names: the same everywhere
      for (const auto& f : files) items_.push_back({f.string(), f.string(), -1, std::nullopt});
    } else if (spec_.kind == SourceKind::Manifest) {
      read_manifest();
    } else {
      idx_ = io::read_idx_u8(spec_.path, 3);
      if (idx_.dims[1] == 0 || idx_.dims[2] == 0) throw FormatError("IDX " + io::detail::quoted(spec_.path) + ": images have no pixels");
      std::vector<int> labels;
      if (!spec_.labels.empty()) {
        labels = io::read_idx_labels(spec_.labels);
        if (static_cast<std::int64_t>(labels.size()) != idx_.dims[0])
          throw FormatError("--labels " + io::detail::quoted(spec_.labels) + " has " + std::to_string(labels.size()) +
                            " labels for " + std::to_string(idx_.dims[0]) + " images in " + io::detail::quoted(spec_.path));
      }
      for (std::int64_t i = 0; i < idx_.dims[0]; ++i)
        items_.push_back({spec_.path + "#" + std::to_string(i), "", i,
                          labels.empty() ? std::nullopt : std::optional<std::int64_t>(labels[static_cast<std::size_t>(i)])});
    }
  }

  const SourceSpec& spec() const noexcept { return spec_; }
  std::int64_t size() const noexcept { return static_cast<std::int64_t>(items_.size()); }
  const SourceItem& item(std::int64_t i) const { return items_.at(static_cast<std::size_t>(i)); }

  // The image's bytes hashed and decoded; throws gradattr::Error naming it. *sha256, when given,
  // receives the hash as soon as the bytes are read (a file that then fails to decode has one).
  SourceImage read(std::int64_t i, std::string* sha256 = nullptr) const {
    const SourceItem& it = item(i);
    SourceImage out;
    if (it.record >= 0) {
      const std::int64_t rows = idx_.dims[1], cols = idx_.dims[2], P = rows * cols;
      const std::uint8_t* p = idx_.data.data() + it.record * P;
      out.sha256 = io::sha256_hex(p, static_cast<std::size_t>(P));
      if (sha256) *sha256 = out.sha256;
      out.picture.height = static_cast<int>(rows);
      out.picture.width = static_cast<int>(cols);
      out.picture.rgb.resize(static_cast<std::size_t>(P) * 3);
      for (std::int64_t k = 0; k < P; ++k)
        for (int c = 0; c < 3; ++c) out.picture.rgb[static_cast<std::size_t>(k * 3 + c)] = p[k];
      return out;
    }
    const io::ImageLimits limits;
    const auto bytes = io::detail::read_file(it.path, "image", limits.max_file_bytes);
    out.sha256 = io::sha256_hex(bytes.begin(), bytes.size);
    if (sha256) *sha256 = out.sha256;
    out.picture = io::decode_image(bytes.begin(), bytes.size, it.path, limits);
    return out;
  }

 private:
  static bool is_image_file(const std::filesystem::path& p) {
    return p.filename().string().rfind('.', 0) != 0 && sources_detail::is_image_name(p);
  }

  // One image per line: "path" or "path<TAB>label"; blank lines and lines starting with '#'
  // are skipped; a relative path is relative to the manifest's directory.
  void read_manifest() {
    namespace fs = std::filesystem;
    io::detail::InputFile check(spec_.path, "--manifest");  // IoError: missing, a directory, a FIFO
    std::ifstream in(spec_.path);
    if (!in) throw IoError("--manifest: cannot open " + io::detail::quoted(spec_.path));
    const fs::path base = fs::path(spec_.path).parent_path();
    std::string line;
    for (std::int64_t n = 1; std::getline(in, line); ++n) {
      const std::string t = sources_detail::trim(line);
      if (t.empty() || t[0] == '#') continue;
      const auto tab = t.find('\t');
      std::string file = sources_detail::trim(t.substr(0, tab));
      std::optional<std::int64_t> label;
      if (tab != std::string::npos) {
        const std::string l = sources_detail::trim(t.substr(tab + 1));
        std::int64_t v = -1;
        const auto [p, ec] = std::from_chars(l.data(), l.data() + l.size(), v);
        if (ec != std::errc() || p != l.data() + l.size() || v < 0)
          throw FormatError("--manifest " + io::detail::quoted(spec_.path) + " line " + std::to_string(n) + ": label '" + l +
                            "' is not a class index (a non-negative integer)");
        label = v;
      }
      fs::path f(file);
      if (f.is_relative() && !base.empty()) f = base / f;
      items_.push_back({f.string(), f.string(), -1, label});
    }
    if (in.bad()) throw IoError("--manifest: read error on " + io::detail::quoted(spec_.path));
  }

  SourceSpec spec_;
  std::vector<SourceItem> items_;
  io::IdxArray idx_;
};

}  // namespace gradattr::sweep
