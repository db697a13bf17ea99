// The gradattr CLI's outputs against the library's own results for the same request: the
// program runs as a child process; the expectation is computed here through the C++ API
// (run_method, the model's forward, the double model). Also the CLI's progress bar directly.
#include <algorithm>
#include <fcntl.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include <gradattr/attribution/runtime.hpp>
#include <gradattr/io/image.hpp>
#include <gradattr/io/npy.hpp>
#include <gradattr/io/safetensors.hpp>
#include <gradattr/kernels/softmax.hpp>
#include <gradattr/models/vgg_safetensors.hpp>

#include "io/io_testing.hpp"
#include "common.hpp"    // examples/cli: image_input
#include "progress.hpp"  // examples/cli

namespace fs = std::filesystem;
using gradattr::testing::TempDir;

namespace {

struct Run {
  int code = -1;
  std::string out, err;
};

// Runs the CLI in `cwd`, stdout and stderr to files there.
Run run_cli(const std::vector<std::string>& args, const fs::path& cwd) {
  std::vector<char*> argv;
  static std::string cli = GRADATTR_CLI_PATH;
  argv.push_back(cli.data());
  std::vector<std::string> copy = args;
  for (auto& a : copy) argv.push_back(a.data());
  argv.push_back(nullptr);
  const fs::path out = cwd / ".stdout", err = cwd / ".stderr";
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    if (chdir(cwd.c_str()) != 0) _exit(126);
    const int o = open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int in = open("/dev/null", O_RDONLY);
    if (o < 0 || e < 0 || in < 0) _exit(126);
    dup2(in, 0);
    dup2(o, 1);
    dup2(e, 2);
    execv(argv[0], argv.data());
    _exit(127);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  Run r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = gradattr::testing::read_bytes(out);
  r.err = gradattr::testing::read_bytes(err);
  fs::remove(out);
  fs::remove(err);
  return r;
}

const std::string kData = GRADATTR_TEST_DATA_DIR;
const std::string kWeights = kData + "/vgg_tiny/model.safetensors";
const std::string kInput = kData + "/vgg_tiny/input.npy";

const gradattr::models::Vgg<float>& tiny_model() {
  static const auto m = gradattr::models::vgg_from_safetensors<float>(gradattr::io::read_safetensors(kWeights));
  return m;
}

// max |a - b| / max(1, max |b|): the CLI runs the same code on the same data, so this is at
// rounding level (OpenMP may split reductions differently between processes).
double rel_diff(const gradattr::Tensor<float>& a, const gradattr::Tensor<float>& b) {
  REQUIRE(a.shape() == b.shape());
  double d = 0, m = 1;
  for (std::int64_t i = 0; i < a.numel(); ++i) {
    d = std::max(d, std::abs(static_cast<double>(a[i]) - b[i]));
    m = std::max(m, std::abs(static_cast<double>(b[i])));
  }
  return d / m;
}

}  // namespace

TEST_CASE("explain's --save-raw, --save-map, --out and --json equal the library's result for the same method") {
  struct Req {
    const char* method;
    const char* score;
    gradattr::RunOptions options;
    std::vector<std::string> flags;
  };
  std::vector<Req> reqs;
  reqs.push_back({"gradcam", "post", {}, {}});
  reqs.push_back({"hirescam", "pre", {}, {"--layer", "features.4"}});
  reqs.back().options.layer = "features.4";
  reqs.push_back({"ig", "log", {}, {"--steps", "8"}});
  reqs.back().options.steps = 8;
  reqs.push_back({"rsi-gradcam", "pre", {}, {"--steps", "5"}});
  reqs.back().options.steps = 5;
  reqs.push_back({"smoothgrad", "post", {}, {"--samples", "6", "--seed", "7"}});
  reqs.back().options.samples = 6;
  reqs.back().options.seed = 7;
  reqs.push_back({"saliency", "log", {}, {"--class", "3"}});
  reqs.push_back({"gradcam", "centered", {}, {}});
  // every variant of every method (kVariantInfo), under the centred score and one other
  for (const auto& v : gradattr::kVariantInfo) {
    const char* method = gradattr::to_string(v.method).data();  // the table's names are NUL-terminated literals
    for (const char* score : {"centered", "log"}) {
      reqs.push_back({method, score, {}, {"--variant", std::string(v.name), "--steps", "3"}});
      reqs.back().options.variant = std::string(v.name);
      reqs.back().options.steps = 3;
    }
  }
  const auto x = gradattr::io::read_npy_f32(kInput);
  for (const auto& q : reqs) {
    DYNAMIC_SECTION(q.method << " " << q.score << " " << q.options.variant) {
      TempDir dir;
      std::vector<std::string> args = {"explain", "--weights", kWeights, "--input",  kInput, "--method", q.method, "--score",
                                       q.score,   "--json",    "--out",  "o.png", "--save-raw", "r.npy", "--save-map", "m.npy"};
      args.insert(args.end(), q.flags.begin(), q.flags.end());
      const Run r = run_cli(args, dir.path());
      INFO(r.err);
      REQUIRE(r.code == 0);
      const bool class_3 = std::find(q.flags.begin(), q.flags.end(), "--class") != q.flags.end();  // only "--class 3" is used
      const gradattr::Target target = class_3 ? gradattr::Target::all(3) : gradattr::Target{};
      const auto want = gradattr::run_method(gradattr::parse_method(q.method), gradattr::parse_score_kind(q.score), tiny_model(), x,
                                             target, q.options);
      CHECK(rel_diff(gradattr::io::read_npy_f32(dir / "r.npy"), want.raw) < 1e-5);
      CHECK(rel_diff(gradattr::io::read_npy_f32(dir / "m.npy"), want.displayed(x.dim(2), x.dim(3))) < 1e-5);
      const auto png = gradattr::io::read_image(dir / "o.png");
      CHECK(png.width == x.dim(3));
      CHECK(png.height == x.dim(2));
      const auto j = nlohmann::json::parse(r.out);
      CHECK(j.at("method") == q.method);
      CHECK(j.at("score") == q.score);
      CHECK(j.at("layer") == want.layer);
      if (!q.options.variant.empty()) CHECK(j.at("variant") == q.options.variant);
      REQUIRE(j.at("images").size() == static_cast<std::size_t>(x.dim(0)));
      for (std::int64_t n = 0; n < x.dim(0); ++n) {
        const auto& e = j.at("images").at(static_cast<std::size_t>(n));
        CHECK(e.at("class").get<std::int64_t>() == want.classes[static_cast<std::size_t>(n)]);
        CHECK(e.at("y_c").get<double>() == Approx(want.probability[n]).epsilon(1e-5));
        CHECK(e.at("z_c").get<double>() == Approx(want.logit[n]).epsilon(1e-5));
        CHECK(e.at("S").get<double>() == Approx(want.score[n]).epsilon(1e-5));
        if (!want.completeness.empty()) CHECK(e.at("completeness").get<double>() == Approx(want.completeness[n]).epsilon(1e-4));
      }
    }
  }
}

TEST_CASE("classify --json and --save-logits equal the model's forward and softmax") {
  TempDir dir;
  const Run r = run_cli({"classify", "--weights", kWeights, "--input", kInput, "--top", "10", "--json", "--save-logits", "z.npy"},
                        dir.path());
  INFO(r.err);
  REQUIRE(r.code == 0);
  const auto x = gradattr::io::read_npy_f32(kInput);
  const auto z = tiny_model().forward(x);
  gradattr::Tensor<float> p(z.shape());
  gradattr::kernels::softmax(p, z);
  CHECK(rel_diff(gradattr::io::read_npy_f32(dir / "z.npy"), z) < 1e-6);
  const auto j = nlohmann::json::parse(r.out);
  REQUIRE(j.at("images").size() == 2);
  for (std::int64_t n = 0; n < 2; ++n) {
    const auto& top = j.at("images").at(static_cast<std::size_t>(n)).at("top");
    REQUIRE(top.size() == 10);
    double prev = 2;
    for (const auto& t : top) {
      const auto c = t.at("class").get<std::int64_t>();
      CHECK(t.at("probability").get<double>() == Approx(p(n, c)).epsilon(1e-6));
      CHECK(t.at("logit").get<double>() == Approx(z(n, c)).epsilon(1e-6));
      CHECK(t.at("probability").get<double>() <= prev);
      prev = t.at("probability").get<double>();
    }
  }
}

TEST_CASE("audit --double reports the double model's y_c") {
  // The shipped Fashion-MNIST model (small: the double audit takes seconds) on an input made here.
  const std::string weights = std::string(GRADATTR_SOURCE_DIR) + "/examples/data/fashion_vgg.safetensors";
  TempDir dir;
  gradattr::Tensor<float> x(gradattr::Shape{1, 1, 28, 28});
  for (std::int64_t i = 0; i < x.numel(); ++i) x[i] = static_cast<float>((i * 37) % 101) / 100.0f;
  gradattr::io::write_npy(dir / "x.npy", x);
  const auto file = gradattr::io::read_safetensors(weights);
  const auto model64 = gradattr::models::vgg_from_safetensors<double>(file);
  const auto model32 = gradattr::models::vgg_from_safetensors<float>(file);
  const auto z64 = model64.forward(x.cast<double>());
  const auto z32 = model32.forward(x);
  std::int64_t c = 0;
  for (std::int64_t k = 1; k < z64.dim(1); ++k)
    if (z64(0, k) > z64(0, c)) c = k;
  double m = z64(0, 0), sum = 0;
  for (std::int64_t k = 0; k < z64.dim(1); ++k) m = std::max(m, z64(0, k));
  for (std::int64_t k = 0; k < z64.dim(1); ++k) sum += std::exp(z64(0, k) - m);
  const double y64 = std::exp(z64(0, c) - m) / sum;
  gradattr::Tensor<float> p32(z32.shape());
  gradattr::kernels::softmax(p32, z32);
  INFO("double y_c " << y64 << ", float y_c " << p32(0, c));
  const std::vector<std::string> audit = {"audit", "--weights", weights, "--input", (dir / "x.npy").string(), "--steps", "2", "--double"};
  auto with_json = audit;
  with_json.push_back("--json");
  const Run d = run_cli(with_json, dir.path());
  INFO(d.err);
  REQUIRE(d.code == 0);
  const auto jd = nlohmann::json::parse(d.out);
  CHECK(jd.at("precision") == "double");
  CHECK(jd.at("class").get<std::int64_t>() == c);
  CHECK(jd.at("y_c").get<double>() == Approx(y64).epsilon(1e-12));
  CHECK(jd.at("one_minus_y_c").get<double>() == Approx(1 - y64).epsilon(1e-9));
  // The text output says the same (10 significant digits).
  const Run t = run_cli(audit, dir.path());
  REQUIRE(t.code == 0);
  const auto at = t.out.find("y_c = ");
  REQUIRE(at != std::string::npos);
  CHECK(std::stod(t.out.substr(at + 6)) == Approx(y64).epsilon(1e-9));
}

// ---- the progress bar ----

namespace {
struct FakeClock {
  double now = 0;
};
std::string drawn(std::FILE* f) {
  std::fflush(f);
  std::rewind(f);
  std::string s;
  for (int ch; (ch = std::fgetc(f)) != EOF;) s.push_back(static_cast<char>(ch));
  return s;
}
}  // namespace

TEST_CASE("the progress bar appears after the delay, with done/total, elapsed time and an ETA") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  FakeClock clock;
  {
    gradattr_cli::ProgressBar bar("ig", f, true, 2.0, [&] { return clock.now; });
    clock.now = 1.0;
    bar(10, 100);
    CHECK(drawn(f).empty());  // a short run draws nothing
    clock.now = 4.0;
    bar(40, 100);  // 40 % in 4 s: 6 s to go
    const auto s = drawn(f);
    CHECK(s.find("ig [") != std::string::npos);
    CHECK(s.find("40/100") != std::string::npos);
    CHECK(s.find("4.0s") != std::string::npos);
    CHECK(s.find("ETA 6.0s") != std::string::npos);
    std::fseek(f, 0, SEEK_END);
    clock.now = 10.0;
    bar(100, 100);
  }
  const auto s = drawn(f);
  CHECK(s.find("100/100") != std::string::npos);
  CHECK(s.back() == '\n');  // finished: the line is ended
  std::fclose(f);
}

TEST_CASE("the progress bar of a sweep shows its rate (images/s)") {
  std::FILE* f = std::tmpfile();
  REQUIRE(f);
  FakeClock clock;
  {
    gradattr_cli::ProgressBar bar("sweep", f, true, 0.0, [&] { return clock.now; });
    bar.show_rate("images");
    clock.now = 5.0;
    bar(10, 40);  // 10 images in 5 s: 2 a second, 30 left: 15 s
    const auto s = drawn(f);
    CHECK(s.find("10/40") != std::string::npos);
    CHECK(s.find(" 2.0 images/s") != std::string::npos);
    CHECK(s.find("ETA 15.0s") != std::string::npos);
  }
  std::fclose(f);
}

TEST_CASE("the progress bar draws nothing when disabled (stderr not a terminal)") {
  std::FILE* f = std::tmpfile();
  FakeClock clock;
  {
    gradattr_cli::ProgressBar bar("ig", f, false, 0.0, [&] { return clock.now; });
    clock.now = 100;
    bar(1, 2);
    bar(2, 2);
  }
  CHECK(drawn(f).empty());
  std::fclose(f);
}

TEST_CASE("on a terminal, a long explain run shows progress with an ETA on stderr") {
  int master = -1;
  const pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  REQUIRE(pid >= 0);
  if (pid == 0) {
    setenv("GRADATTR_PROGRESS_DELAY", "0", 1);  // "long" from the start (default: a few seconds)
    const int out = open("/dev/null", O_WRONLY);
    dup2(out, 1);  // only stderr on the terminal
    std::string cli = GRADATTR_CLI_PATH;
    execl(cli.c_str(), cli.c_str(), "explain", "--weights", kWeights.c_str(), "--input", kInput.c_str(), "--method", "ig",
          "--steps", "64", static_cast<char*>(nullptr));
    _exit(127);
  }
  std::string term;
  char buf[4096];
  for (ssize_t n; (n = read(master, buf, sizeof buf)) > 0;) term.append(buf, static_cast<std::size_t>(n));
  int status = 0;
  waitpid(pid, &status, 0);
  close(master);
  INFO(term);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(term.find("ig [") != std::string::npos);
  CHECK(term.find("ETA") != std::string::npos);
}

TEST_CASE("an output on standard output whose reader has gone is an error (exit 1, one line), not a SIGPIPE death") {
  int p[2];
  REQUIRE(pipe(p) == 0);
  TempDir dir;
  const fs::path err = dir / "stderr";
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    close(p[0]);  // nobody will ever read
    dup2(p[1], 1);
    const int e = open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(e, 2);
    std::string cli = GRADATTR_CLI_PATH;
    execl(cli.c_str(), cli.c_str(), "explain", "--weights", kWeights.c_str(), "--input", kInput.c_str(), "--method", "gradcam",
          "--save-raw", "-", static_cast<char*>(nullptr));
    _exit(127);
  }
  close(p[0]);
  close(p[1]);
  int status = 0;
  waitpid(pid, &status, 0);
  const std::string msg = gradattr::testing::read_bytes(err);
  INFO(msg);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 1);
  CHECK(msg.find("gradattr: write_npy: write error on standard output: Broken pipe\n") != std::string::npos);
}

TEST_CASE("a grey picture's input to a grey model is byte / 255 exactly, as the IDX reader gives it") {
  // Every byte value as a grey pixel (R = G = B), 16 x 16. The weighted luminance sum was an ulp
  // off for 39 of them (this test, before the fix); the sweep of an IDX file must see the same
  // numbers as io::read_idx_images.
  gradattr::io::Image img;
  img.width = img.height = 16;
  for (int v = 0; v < 256; ++v)
    for (int c = 0; c < 3; ++c) img.rgb.push_back(static_cast<std::uint8_t>(v));
  gradattr_cli::InputSpec spec;
  spec.grey = true;
  spec.height = spec.width = 16;
  const auto in = gradattr_cli::image_input(img, spec);
  int off = 0;
  for (int v = 0; v < 256; ++v) off += in.x[v] != static_cast<float>(v) / 255.f;
  CHECK(off == 0);
  // a coloured pixel keeps its luminance
  img.rgb[0] = 255, img.rgb[1] = 0, img.rgb[2] = 0;
  CHECK(gradattr_cli::image_input(img, spec).x[0] == Approx(0.299f).epsilon(1e-6));
}
