// Runs the gradattr CLI as a user would, against bad arguments, bad files (the whole
// tests/data/bad corpus) and valid-but-unusual files, and checks the CLI contract on each:
//   - the process exits (no signal, no abort, no hang) with the expected status (0, 1 or 2);
//   - on failure, stderr is exactly one line "gradattr: <what went wrong>" naming the problem;
//   - on failure, nothing is left behind: each case runs in its own empty directory, which must
//     still be empty afterwards (no partial output, no stray temporary file), and absolute output
//     paths given to it must not exist;
//   - no sanitizer report (when the CLI is built with sanitizers).
// Usage: test_cli_driver <gradattr executable> <tests/data dir> <group> <scratch dir>
// Groups: args, files, outputs, targets, devices, valid, corpus. The unusual files are made here, byte by byte,
// from tests/data/vgg_tiny (independent of the library's own writers).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support/special_files.hpp"
#include "gradattr/attribution/runtime.hpp"
#include "gradattr/io/npy.hpp"
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

namespace fs = std::filesystem;
using gradattr::testing::kind_of;

namespace {

std::string g_cli;
fs::path g_data, g_scratch;
int g_failures = 0, g_passed = 0;

struct RunResult {
  bool exited = false, timed_out = false;
  int code = -1, signal = 0;
  std::string out, err;
  double seconds = 0;
};

// fork + exec with the given working directory, stdin from /dev/null, stdout/stderr captured,
// killed after `timeout_s`.
RunResult run(const std::vector<std::string>& args, const fs::path& cwd, int timeout_s = 120) {
  RunResult r;
  int po[2], pe[2];
  if (pipe(po) != 0 || pipe(pe) != 0) {
    std::perror("pipe");
    std::exit(3);
  }
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(g_cli.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const auto t0 = std::chrono::steady_clock::now();
  const pid_t pid = fork();
  if (pid < 0) {
    std::perror("fork");
    std::exit(3);
  }
  if (pid == 0) {
    if (chdir(cwd.c_str()) != 0) _exit(126);
    const int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, 0);
    dup2(po[1], 1);
    dup2(pe[1], 2);
    close(po[0]);
    close(pe[0]);
    close(po[1]);
    close(pe[1]);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(po[1]);
  close(pe[1]);
  pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  const auto deadline = t0 + std::chrono::seconds(timeout_s);
  while (open_fds > 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    if (poll(fds, 2, static_cast<int>(std::min<long long>(left, 1000))) < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buf[4096];
      const ssize_t n = read(fds[i].fd, buf, sizeof buf);
      if (n > 0) {
        sinks[i]->append(buf, static_cast<std::size_t>(n));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  for (auto& f : fds)
    if (f.fd >= 0) close(f.fd);
  int status = 0;
  waitpid(pid, &status, 0);
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (WIFEXITED(status)) {
    r.exited = true;
    r.code = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }
  return r;
}

std::string shell_quote(const std::vector<std::string>& args) {
  std::string s = "gradattr";
  for (const auto& a : args) s += " '" + a + "'";
  return s;
}

struct Case {
  std::string name;
  std::vector<std::string> args;
  std::set<int> expect;               // allowed exit statuses
  std::string message;                // on failure, stderr must contain this (case-sensitive)
  std::vector<std::string> outputs;   // files the run is asked to write (relative to its directory)
  std::vector<fs::path> absent;       // absolute paths that must not exist afterwards
  std::function<void(const RunResult&, const fs::path&, std::vector<std::string>&)> extra;  // more checks
};

RunResult check(const Case& c) {
  const fs::path dir = g_scratch / "runs" / c.name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  const RunResult r = run(c.args, dir);
  std::vector<std::string> problems;
  if (r.timed_out) problems.push_back("timed out (killed)");
  else if (!r.exited) problems.push_back("killed by signal " + std::to_string(r.signal) + " (" + strsignal(r.signal) + ")");
  else if (!c.expect.count(r.code)) problems.push_back("exit status " + std::to_string(r.code));
  for (const char* s : {"Sanitizer", "runtime error:", "terminate called", "Assertion"})
    if (r.err.find(s) != std::string::npos) problems.push_back(std::string("stderr mentions '") + s + "'");
  std::vector<std::string> left;
  for (const auto& e : fs::directory_iterator(dir)) left.push_back(e.path().filename().string());
  if (r.exited && r.code != 0) {
    const auto nl = r.err.find('\n');
    if (r.err.empty()) problems.push_back("nothing on stderr");
    else if (nl != r.err.size() - 1) problems.push_back("stderr is not exactly one line");
    if (r.err.rfind("gradattr: ", 0) != 0) problems.push_back("stderr does not start with 'gradattr: '");
    if (!c.message.empty() && r.err.find(c.message) == std::string::npos)
      problems.push_back("stderr does not mention '" + c.message + "'");
    if (!left.empty()) problems.push_back("left files behind after failing: " + left.front() + (left.size() > 1 ? " ..." : ""));
    for (const auto& p : c.absent)
      if (fs::exists(fs::symlink_status(p))) problems.push_back("left " + p.string() + " behind after failing");
  } else if (r.exited && r.code == 0) {
    std::set<std::string> expected(c.outputs.begin(), c.outputs.end());
    for (const auto& o : c.outputs)
      if (!fs::exists(dir / o) || fs::file_size(dir / o) == 0) problems.push_back("output " + o + " missing or empty");
    for (const auto& f : left)
      if (!expected.count(f)) problems.push_back("unexpected file left in the directory: " + f);
  }
  if (c.extra && r.exited) c.extra(r, dir, problems);
  if (problems.empty()) {
    ++g_passed;
    std::printf("ok   %-40s exit %d  %.2fs  %s", c.name.c_str(), r.code, r.seconds, r.err.empty() ? "\n" : r.err.c_str());
    if (!r.err.empty() && r.err.back() != '\n') std::printf("\n");
  } else {
    ++g_failures;
    std::printf("FAIL %-40s %s\n", c.name.c_str(), shell_quote(c.args).c_str());
    for (const auto& p : problems) std::printf("       - %s\n", p.c_str());
    std::printf("       exit=%d signal=%d\n       stdout: %.600s\n       stderr: %.1200s\n", r.code, r.signal, r.out.c_str(),
                r.err.c_str());
  }
  std::fflush(stdout);
  return r;
}

// ---------------------------------------------------------------------------------------------
// Files made byte by byte.

std::string read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) {
    std::fprintf(stderr, "cannot read fixture %s\n", p.c_str());
    std::exit(3);
  }
  return {std::istreambuf_iterator<char>(in), {}};
}

fs::path write_bytes(const std::string& name, const std::string& bytes) {
  const fs::path p = g_scratch / "fixtures" / name;
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return p;
}

std::uint64_t le64(const std::string& s, std::size_t at) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + static_cast<std::size_t>(i)]);
  return v;
}

std::string le64_bytes(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

struct Safetensors {
  nlohmann::ordered_json header;
  std::string data;
};

Safetensors parse_safetensors(const std::string& bytes) {
  const auto n = le64(bytes, 0);
  return {nlohmann::ordered_json::parse(bytes.substr(8, n)), bytes.substr(8 + n)};
}

// Serialises with the header padded by `pad` spaces (the format allows trailing spaces).
std::string serialise(const Safetensors& s, std::size_t pad = 0) {
  const std::string h = s.header.dump() + std::string(pad, ' ');
  return le64_bytes(h.size()) + h + s.data;
}

std::uint16_t float_to_half(float f) {  // round to nearest even; finite normal inputs of a model
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  const std::uint32_t sign = (x >> 16) & 0x8000u;
  const int exp = static_cast<int>((x >> 23) & 0xff) - 127 + 15;
  std::uint32_t mant = x & 0x7fffffu;
  if (exp >= 31) return static_cast<std::uint16_t>(sign | 0x7c00u);
  if (exp <= 0) {  // subnormal half
    if (exp < -10) return static_cast<std::uint16_t>(sign);
    mant |= 0x800000u;
    const int shift = 14 - exp;
    std::uint32_t h = mant >> shift;
    const std::uint32_t rem = mant & ((1u << shift) - 1), halfway = 1u << (shift - 1);
    if (rem > halfway || (rem == halfway && (h & 1))) ++h;
    return static_cast<std::uint16_t>(sign | h);
  }
  std::uint32_t h = (static_cast<std::uint32_t>(exp) << 10) | (mant >> 13);
  const std::uint32_t rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1))) ++h;  // may carry into the exponent: still right
  return static_cast<std::uint16_t>(sign | h);
}

std::uint16_t float_to_bf16(float f) {
  std::uint32_t x;
  std::memcpy(&x, &f, 4);
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<std::uint16_t>(x >> 16);
}

// The F32 model re-encoded as 16-bit floats (F16 or BF16), offsets recomputed.
std::string model_as16(const std::string& f32_bytes, const std::string& dtype) {
  auto s = parse_safetensors(f32_bytes);
  Safetensors out{nlohmann::ordered_json::object(), {}};
  for (auto it = s.header.begin(); it != s.header.end(); ++it) {
    if (it.key() == "__metadata__") {
      out.header[it.key()] = it.value();
      continue;
    }
    const auto b = it.value()["data_offsets"][0].get<std::size_t>(), e = it.value()["data_offsets"][1].get<std::size_t>();
    const std::size_t begin = out.data.size();
    for (std::size_t i = b; i < e; i += 4) {
      float f;
      std::memcpy(&f, s.data.data() + i, 4);
      const std::uint16_t h = dtype == "F16" ? float_to_half(f) : float_to_bf16(f);
      out.data.push_back(static_cast<char>(h & 0xff));
      out.data.push_back(static_cast<char>(h >> 8));
    }
    auto entry = it.value();
    entry["dtype"] = dtype;
    entry["data_offsets"] = {begin, out.data.size()};
    out.header[it.key()] = entry;
  }
  return serialise(out);
}

// An NPY v1.0 file of float32 values with the given shape.
std::string npy_f32(const std::vector<std::int64_t>& shape, const std::vector<float>& values) {
  std::string dims;
  for (auto d : shape) dims += std::to_string(d) + ", ";
  if (shape.size() > 1) dims.resize(dims.size() - 2);
  std::string h = "{'descr': '<f4', 'fortran_order': False, 'shape': (" + dims + "), }";
  while ((10 + h.size() + 1) % 64) h += ' ';
  h += '\n';
  std::string s = "\x93NUMPY";
  s += '\x01';
  s += '\0';
  s += static_cast<char>(h.size() & 0xff);
  s += static_cast<char>(h.size() >> 8);
  s += h;
  s.append(reinterpret_cast<const char*>(values.data()), values.size() * 4);
  return s;
}

std::size_t npy_data_offset(const std::string& b) {
  return 10 + (static_cast<unsigned char>(b[8]) | (static_cast<unsigned char>(b[9]) << 8));
}

std::string with_value(std::string npy, std::size_t index, float v) {
  std::memcpy(npy.data() + npy_data_offset(npy) + index * 4, &v, 4);
  return npy;
}

// First column of classify's output lines ("rank class probability label"): the top class
// of each image.
std::vector<std::string> top1(const std::string& out) {
  std::vector<std::string> r;
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("1\t", 0) == 0) r.push_back(line.substr(2, line.find('\t', 2) - 2));
  return r;
}

fs::path tiny() { return g_data / "vgg_tiny" / "model.safetensors"; }
fs::path input() { return g_data / "vgg_tiny" / "input.npy"; }

std::vector<std::string> explain_base(const fs::path& weights, const fs::path& in) {
  return {"explain", "--weights", weights.string(), "--input", in.string()};
}

std::vector<std::string> cat(std::vector<std::string> a, const std::vector<std::string>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

// ---------------------------------------------------------------------------------------------
// Groups.

void group_args() {
  const auto base = explain_base(tiny(), input());
  const auto gc = cat(base, {"--method", "gradcam"});
  const std::vector<std::string> outs = {"--out", "o.png", "--save-raw", "r.npy", "--save-map", "m.npy"};
  auto bad = [&](std::string name, std::vector<std::string> args, std::string msg, std::set<int> expect = {2}) {
    check({std::move(name), std::move(args), std::move(expect), std::move(msg), {}, {}, {}});
  };
  bad("no_subcommand", {}, "A subcommand is required");
  bad("unknown_subcommand", {"frobnicate"}, "frobnicate");
  bad("unknown_option", cat(gc, {"--colour", "red"}), "--colour");
  bad("unknown_method", cat(base, cat({"--method", "nosuch"}, outs)), "--method: unknown method 'nosuch'");
  bad("unknown_score", cat(gc, cat({"--score", "softish"}, outs)), "--score: unknown score space 'softish' (valid: " +
                                                                      gradattr::score::score_names_list() + ")");
  // --variant: one of the method's rows of the library's table, else exit 2 listing them
  bad("unknown_variant", cat(base, cat({"--method", "gradcam++", "--variant", "nosuch"}, outs)),
      "--variant: unknown variant 'nosuch' for gradcam++ (valid: " + gradattr::variant_names_list(gradattr::Method::GradCamPlusPlus) + ")");
  bad("variant_for_method_without", cat(gc, cat({"--variant", "signed"}, outs)), "--variant: method gradcam has no variants");
  bad("variant_without_method", cat(base, {"--variant", "signed"}), "--variant needs --method");
  bad("variant_of_another_method", cat(base, cat({"--method", "scorecam", "--variant", "guided"}, outs)),
      "(valid: increase, softmax, raw)");
  bad("unknown_layer", cat(gc, cat({"--layer", "features.999"}, outs)), "--layer: unknown layer 'features.999'");
  bad("layer_for_attention_method", cat(base, cat({"--method", "rollout", "--layer", "features.0"}, outs)),
      "--layer does not apply to --method rollout");
  bad("layer_without_space", cat(gc, cat({"--layer", "classifier.0"}, outs)), "classifier.0 has no spatial dimensions");
  bad("class_out_of_range", cat(gc, cat({"--class", "10"}, outs)), "--class 10 is out of range");
  bad("class_huge", cat(gc, cat({"--class", "4294967296"}, outs)), "4294967296");
  bad("class_negative", cat(gc, cat({"--class", "-2"}, outs)), "-2");
  bad("class_not_a_number", cat(gc, {"--class", "abc"}), "abc");
  bad("class_overflows", cat(gc, {"--class", "99999999999999999999999"}), "--class 99999999999999999999999 is out of range");
  bad("steps_zero", cat(base, cat({"--method", "ig", "--steps", "0"}, outs)), "--steps must be at least 1, got 0");
  bad("steps_negative", cat(base, cat({"--method", "rsi-gradcam", "--steps", "-3"}, outs)), "--steps must be at least 1, got -3");
  bad("option_without_value", cat(base, {"--method"}), "--method");
  bad("image_and_input", cat(gc, {"--image", (g_data / "bad/images/grey.png").string()}), "--image");
  bad("no_input_with_weights", {"explain", "--weights", tiny().string(), "--method", "gradcam"}, "--input");
  // The flag is valid; the weights are not what it asserts: about the file, exit 1.
  bad("arch_mismatch", cat(gc, {"--arch", "vgg16"}), "--arch vgg16 does not match the weights", {1});
  bad("arch_unknown", cat(gc, {"--arch", "resnet50"}), "resnet50");
  bad("save_raw_without_method", cat(base, {"--save-raw", "r.npy"}), "--method");
  bad("classify_top_zero", {"classify", "--weights", tiny().string(), "--input", input().string(), "--top", "0"}, "--top");
  const std::vector<std::string> audit = {"audit", "--weights", tiny().string(), "--input", input().string()};
  bad("audit_k_zero", cat(audit, {"--equivalent", "0"}), "--equivalent");
  bad("audit_k_nan", cat(audit, {"--equivalent", "nan"}), "--equivalent");
  bad("audit_steps_zero", cat(audit, {"--steps", "0"}), "--steps");
  bad("audit_unknown_layer", cat(audit, {"--layer", "features.999"}), "--layer: unknown layer 'features.999'");
  bad("bench_batch_zero", {"bench", "--weights", tiny().string(), "--batch", "0"}, "--batch");
  bad("bench_size_small", {"bench", "--weights", tiny().string(), "--size", "0"}, "--size");
  bad("bench_unknown_workload", {"bench", "--weights", tiny().string(), "--size", "32", "--workload", "nosuch"},
      "--workload: unknown workload 'nosuch'");
  // Step and sample counts are bounded (docs/cli.md): a clear exit 2, not a run without end.
  const auto ig = cat(base, {"--method", "ig"});
  bad("steps_above_maximum", cat(ig, cat({"--steps", "100001"}, outs)), "--steps must be at most 100000, got 100001");
  bad("steps_huge", cat(ig, cat({"--steps", "99999999999"}, outs)), "--steps must be at most 100000, got 99999999999");
  bad("steps_overflows", cat(ig, cat({"--steps", "99999999999999999999"}, outs)), "--steps 99999999999999999999 is out of range");
  bad("steps_not_a_number", cat(ig, {"--steps", "many"}), "--steps must be an integer, got 'many'");
  const auto sg = cat(base, {"--method", "smoothgrad"});
  bad("samples_huge", cat(sg, cat({"--samples", "1000000000"}, outs)), "--samples must be at most 100000, got 1000000000");
  bad("samples_zero", cat(sg, cat({"--samples", "0"}, outs)), "--samples must be at least 1, got 0");
  bad("audit_steps_huge", cat(audit, {"--steps", "99999999999"}), "--steps must be at most 100000");
  bad("bench_steps_huge", {"bench", "--weights", tiny().string(), "--size", "32", "--steps", "99999999999"},
      "--steps must be at most 100000");
  bad("json_with_stdout_output", cat(gc, {"--json", "--out", "-"}), "--json");
  bad("two_outputs_on_stdout", cat(gc, {"--out", "-", "--save-raw", "-"}), "standard output");
}

void group_files() {
  const auto gc = std::vector<std::string>{"--method", "gradcam", "--out", "o.png", "--save-raw", "r.npy"};
  auto bad = [&](std::string name, std::vector<std::string> args, std::string msg, std::set<int> expect = {1}) {
    check({std::move(name), std::move(args), std::move(expect), std::move(msg), {}, {}, {}});
  };
  const fs::path missing = g_scratch / "does_not_exist";
  const fs::path dir = g_data / "vgg_tiny";
  bad("weights_missing", cat(explain_base(missing.string() + ".safetensors", input()), gc), "does_not_exist");
  bad("input_missing", cat(explain_base(tiny(), missing.string() + ".npy"), gc), "does_not_exist");
  bad("image_missing", {"classify", "--weights", tiny().string(), "--image", missing.string() + ".png"}, "does_not_exist");
  bad("labels_missing", {"classify", "--weights", tiny().string(), "--input", input().string(), "--labels", missing.string()},
      "does_not_exist");
  bad("weights_is_directory", cat(explain_base(dir, input()), gc), "vgg_tiny");
  bad("input_is_directory", cat(explain_base(tiny(), dir), gc), "vgg_tiny");
  bad("image_is_directory", {"classify", "--weights", tiny().string(), "--image", dir.string()}, "vgg_tiny");
  {
    const fs::path fifo = g_scratch / "a_fifo";  // would block open() forever if opened
    if (mkfifo(fifo.c_str(), 0600) == 0) {
      bad("weights_is_fifo", cat(explain_base(fifo, input()), gc), "not a regular file");
      bad("input_is_fifo", cat(explain_base(tiny(), fifo), gc), "not a regular file");
      bad("image_is_fifo", {"classify", "--weights", tiny().string(), "--image", fifo.string()}, "not a regular file");
    }
  }
  bad("weights_is_dev_zero", cat(explain_base("/dev/zero", input()), gc), "/dev/zero");
  bad("image_is_dev_urandom", {"classify", "--weights", tiny().string(), "--image", "/dev/urandom"}, "/dev/urandom");
  bad("labels_is_directory", {"classify", "--weights", tiny().string(), "--input", input().string(), "--labels", dir.string()},
      "the labels file is a directory");
  bad("labels_empty", {"classify", "--weights", tiny().string(), "--input", input().string(), "--labels",
                       write_bytes("empty_labels.txt", "").string()},
      "0 labels for a model with 10 classes");
  bad("weights_is_npy", cat(explain_base(input(), input()), gc), "input.npy");
  bad("input_is_safetensors", cat(explain_base(tiny(), tiny()), gc), "model.safetensors");
  bad("image_is_npy", {"classify", "--weights", tiny().string(), "--image", input().string()}, "not a PNG or JPEG");

  const std::string model = read_bytes(tiny()), in = read_bytes(input());
  bad("weights_truncated", cat(explain_base(write_bytes("truncated.safetensors", model.substr(0, model.size() / 2)), input()), gc),
      "truncated");
  bad("weights_header_only", cat(explain_base(write_bytes("header_only.safetensors", model.substr(0, 8)), input()), gc),
      "header_only");
  {
    std::string flipped = model;  // a byte of the header's JSON turned into garbage
    flipped[8] = '\x01';
    bad("weights_corrupt_header", cat(explain_base(write_bytes("corrupt.safetensors", flipped), input()), gc), "corrupt");
  }
  bad("input_truncated", cat(explain_base(tiny(), write_bytes("truncated.npy", in.substr(0, in.size() - 7))), gc), "truncated");
  bad("input_empty", cat(explain_base(tiny(), write_bytes("empty.npy", "")), gc), "empty.npy");
  const std::size_t mid = in.size() / 2;  // NaN / Inf somewhere in image 1 of 2
  const auto idx = (mid - npy_data_offset(in)) / 4;
  for (auto [name, v] : {std::pair<const char*, float>{"nan", NAN}, {"inf", INFINITY}, {"neg_inf", -INFINITY}}) {
    const auto p = write_bytes(std::string("input_") + name + ".npy", with_value(in, idx, v));
    const std::string says = std::string("input_") + name + ".npy' contains NaN or infinity";  // names the file
    bad(std::string("input_") + name + "_explain", cat(explain_base(tiny(), p), gc), says);
    bad(std::string("input_") + name + "_classify",
        {"classify", "--weights", tiny().string(), "--input", p.string(), "--save-logits", "z.npy"}, says);
  }
  // Shapes the model cannot take.
  bad("input_batch_zero", cat(explain_base(tiny(), write_bytes("batch0.npy", npy_f32({0, 3, 64, 64}, {}))), gc),
      "non-empty [N, C, H, W] batch, got [0, 3, 64, 64]");
  bad("input_batch_zero_classify",
      {"classify", "--weights", tiny().string(), "--input", write_bytes("batch0.npy", npy_f32({0, 3, 64, 64}, {})).string()},
      "input [0, 3, 64, 64] has a zero-sized dimension");
  bad("input_too_small", cat(explain_base(tiny(), write_bytes("small.npy", npy_f32({1, 3, 8, 8}, std::vector<float>(192, 0.5f)))), gc),
      "this VGG needs an input [N, 3, H, W] with H, W >= 32");
  bad("input_one_channel",
      cat(explain_base(tiny(), write_bytes("grey.npy", npy_f32({1, 1, 64, 64}, std::vector<float>(4096, 0.5f)))), gc), "channels");
  bad("input_rank2", cat(explain_base(tiny(), write_bytes("rank2.npy", npy_f32({8, 8}, std::vector<float>(64, 0.5f)))), gc),
      "input must be [N, C, H, W] or [C, H, W], got [8, 8]");
  bad("input_zero_width",
      cat(explain_base(tiny(), write_bytes("zero_width.npy", npy_f32({1, 3, 64, 0}, {}))), gc),
      "input [1, 3, 64, 0] has a zero-sized dimension");
}

void group_outputs() {
  const auto base = cat(explain_base(tiny(), input()), {"--method", "gradcam"});
  auto bad = [&](std::string name, std::vector<std::string> args, std::string msg, std::vector<fs::path> absent) {
    check({std::move(name), std::move(args), {1}, std::move(msg), {}, std::move(absent), {}});
  };
  const fs::path file = write_bytes("a_regular_file", "x");
  const fs::path no_dir = g_scratch / "no_such_dir" / "o.png";
  bad("out_in_missing_directory", cat(base, {"--out", no_dir.string()}), "no_such_dir", {no_dir});
  bad("out_under_a_file", cat(base, {"--out", (file / "o.png").string()}), "a_regular_file", {});
  bad("save_raw_is_directory", cat(base, {"--save-raw", g_scratch.string()}), "is a directory", {});
  bad("save_map_in_missing_directory", cat(base, {"--save-map", no_dir.string() + ".npy"}), "no_such_dir",
      {no_dir.string() + ".npy"});
  bad("save_logits_in_missing_directory",
      {"classify", "--weights", tiny().string(), "--input", input().string(), "--save-logits", no_dir.string() + ".npy"},
      "no_such_dir", {no_dir.string() + ".npy"});
  // Fails late (the bad output is the last one): the outputs before it must not be left.
  const fs::path out_dir = g_scratch / "late";
  fs::create_directories(out_dir);
  bad("late_failure_leaves_nothing",
      cat(base, {"--save-raw", (out_dir / "r.npy").string(), "--save-map", (out_dir / "m.npy").string(), "--out",
                 (file / "o.png").string()}),
      "a_regular_file", {out_dir / "r.npy", out_dir / "m.npy"});
  // Inputs whose forward pass overflows (finite but huge values): a clean failure (exit 1, the
  // input file's content is the problem) with no output written.
  const std::string in = read_bytes(input());
  std::string huge = in;
  for (std::size_t i = npy_data_offset(in); i + 4 <= huge.size(); i += 4) {
    float v;
    std::memcpy(&v, huge.data() + i, 4);
    v = v >= 0 ? 3e38f : -3e38f;
    std::memcpy(huge.data() + i, &v, 4);
  }
  const auto huge_path = write_bytes("huge.npy", huge);
  for (const auto& si : gradattr::score::kScoreInfo)
    for (const char* method : {"gradcam", "saliency", "ig"})
      check({std::string("overflowing_input_") + method + "_" + std::string(si.name),
             {"explain", "--weights", tiny().string(), "--input", huge_path.string(), "--method", method, "--score", std::string(si.name),
              "--steps", "4", "--save-raw", "r.npy", "--save-map", "m.npy", "--out", "o.png"},
             {1},
             "the model's output is not finite",
             {"r.npy", "m.npy", "o.png"},
             {},
             {}});
}


void expect_kind(std::vector<std::string>& problems, const fs::path& p, const std::string& want) {
  const auto k = kind_of(p);
  if (k != want) problems.push_back(p.string() + " is now " + k + ", was " + want);
}

int entries(const fs::path& dir) {
  int n = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir)) ++n;
  return n;
}

using gradattr::testing::FifoReader;

// Outputs onto what is not a regular file (docs/cli.md, "Outputs"): a FIFO or a device is
// written through and survives as what it was; a symlink's target is replaced and the link
// stays; "-" is standard output; a socket is refused. Devices are group_devices (root only).
void group_targets() {
  const auto base = cat(explain_base(tiny(), input()), {"--method", "gradcam"});
  // The reference: the same outputs as regular files.
  check({"reference", cat(base, {"--out", "o.png", "--save-raw", "r.npy"}), {0}, "", {"o.png", "r.npy"}, {}, {}});
  const fs::path ref = g_scratch / "runs" / "reference";
  const std::string ref_png = read_bytes(ref / "o.png"), ref_npy = read_bytes(ref / "r.npy");
  const fs::path special = g_scratch / "special";
  fs::create_directories(special);

  const fs::path fifo = special / "fifo";
  if (mkfifo(fifo.c_str(), 0600) != 0) {
    std::perror("mkfifo");
    std::exit(3);
  }
  for (const auto& [flag, want, name] : {std::tuple{"--save-raw", &ref_npy, "fifo_save_raw"}, {"--out", &ref_png, "fifo_out_png"}}) {
    FifoReader reader(fifo);
    check({name, cat(base, {flag, fifo.string()}), {0}, "", {}, {}, [&, want = want, flag = flag](const RunResult&, const fs::path&, auto& problems) {
             expect_kind(problems, fifo, "fifo");
             if (reader.stop() != *want)
               problems.push_back(std::string("the FIFO's reader got ") + std::to_string(reader.stop().size()) +
                                  " bytes, not the " + std::to_string(want->size()) + " bytes " + flag + " writes to a file");
           }});
  }
  // No reader: writing would block for ever; a clear error instead, and the FIFO stays.
  check({"fifo_without_reader", cat(base, {"--save-raw", fifo.string()}), {1}, "no process is reading", {}, {},
         [&](const RunResult&, const fs::path&, auto& problems) { expect_kind(problems, fifo, "fifo"); }});

  // A symlink: its target is replaced (atomically, the temporary file in the target's
  // directory), the link stays a link to it.
  const fs::path links = special / "links", targets = special / "targets";
  fs::create_directories(links);
  fs::create_directories(targets);
  std::ofstream(targets / "r.npy") << "old";
  fs::create_symlink(targets / "r.npy", links / "r.npy");
  fs::create_symlink("../targets/o.png", links / "dangling.png");  // relative, target missing
  check({"symlink_to_file", cat(base, {"--save-raw", (links / "r.npy").string(), "--out", (links / "dangling.png").string()}),
         {0}, "", {}, {}, [&](const RunResult&, const fs::path&, auto& problems) {
           expect_kind(problems, links / "r.npy", "symlink");
           expect_kind(problems, links / "dangling.png", "symlink");
           std::error_code ec;
           if (fs::read_symlink(links / "r.npy", ec) != targets / "r.npy") problems.push_back("the symlink points elsewhere");
           expect_kind(problems, targets / "r.npy", "regular");
           expect_kind(problems, targets / "o.png", "regular");
           if (kind_of(targets / "r.npy") == "regular" && read_bytes(targets / "r.npy") != ref_npy)
             problems.push_back("the symlink's target does not hold the map");
           if (kind_of(targets / "o.png") == "regular" && read_bytes(targets / "o.png") != ref_png)
             problems.push_back("the dangling symlink's target does not hold the PNG");
           if (entries(links) != 2 || entries(targets) != 2) problems.push_back("stray files next to the link or its target");
         }});
  fs::create_symlink(fifo, links / "to_fifo");
  {
    FifoReader reader(fifo);
    check({"symlink_to_fifo", cat(base, {"--save-raw", (links / "to_fifo").string()}), {0}, "", {}, {},
           [&](const RunResult&, const fs::path&, auto& problems) {
             expect_kind(problems, links / "to_fifo", "symlink");
             expect_kind(problems, fifo, "fifo");
             if (reader.stop() != ref_npy) problems.push_back("the FIFO behind the symlink did not get the map");
           }});
  }
  // "-": standard output (the text report then goes to stderr).
  check({"stdout_png", cat(base, {"--out", "-"}), {0}, "", {}, {}, [&](const RunResult& r, const fs::path&, auto& problems) {
           if (r.out != ref_png) problems.push_back("stdout is not the PNG (" + std::to_string(r.out.size()) + " bytes)");
           if (r.err.find("gradcam score=post") == std::string::npos) problems.push_back("the report is not on stderr");
         }});
  check({"stdout_npy", cat(base, {"--save-raw", "-"}), {0}, "", {}, {}, [&](const RunResult& r, const fs::path&, auto& problems) {
           if (r.out != ref_npy) problems.push_back("stdout is not the NPY (" + std::to_string(r.out.size()) + " bytes)");
         }});
  check({"stdout_logits", {"classify", "--weights", tiny().string(), "--input", input().string(), "--save-logits", "-"}, {0}, "",
         {}, {}, [&](const RunResult& r, const fs::path&, auto& problems) {
           if (r.out.rfind("\x93NUMPY", 0) != 0) problems.push_back("stdout is not an NPY file");
           if (r.err.find("1\t") == std::string::npos) problems.push_back("the top classes are not on stderr");
         }});
  // A socket cannot be written by open(): refused, left as it is.
  const fs::path sock = special / "sock";
  const int sfd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", sock.c_str());
  if (sfd < 0 || bind(sfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::perror("bind");
    std::exit(3);
  }
  check({"socket_refused", cat(base, {"--out", sock.string()}), {1}, "not a regular file", {}, {},
         [&](const RunResult&, const fs::path&, auto& problems) { expect_kind(problems, sock, "socket"); }});
  close(sfd);
}

// Character devices made with mknod in the scratch directory (never the machine's /dev):
// null (1:3) takes everything, full (1:7) fails every write with ENOSPC. Needs root
// (CAP_MKNOD) and a filesystem without nodev; otherwise the group reports itself skipped.
bool g_skipped = false;
void skip(const std::string& why) {
  std::printf("GRADATTR-SKIPPED: %s\n", why.c_str());
  g_skipped = true;
}

void group_devices() {
  if (geteuid() != 0) return skip("not root: mknod needs CAP_MKNOD");
  const fs::path dev = g_scratch / "dev";
  fs::create_directories(dev);
  const fs::path null = dev / "null", full = dev / "full";
  if (mknod(null.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0 || mknod(full.c_str(), S_IFCHR | 0666, makedev(1, 7)) != 0)
    return skip(std::string("mknod failed: ") + std::strerror(errno));
  const int fd = open(null.c_str(), O_WRONLY);
  if (fd < 0) return skip(std::string("cannot open a device node in ") + dev.string() + " (nodev?): " + std::strerror(errno));
  close(fd);
  const auto base = cat(explain_base(tiny(), input()), {"--method", "gradcam"});
  auto survives = [&](const RunResult&, const fs::path&, std::vector<std::string>& problems) {
    expect_kind(problems, null, "char 1:3");
    expect_kind(problems, full, "char 1:7");
  };
  check({"null_out", cat(base, {"--out", null.string()}), {0}, "", {}, {}, survives});
  check({"null_all_outputs", cat(base, {"--out", null.string(), "--save-raw", null.string(), "--save-map", null.string()}), {0}, "",
         {}, {}, survives});
  check({"null_save_logits", {"classify", "--weights", tiny().string(), "--input", input().string(), "--save-logits", null.string()},
         {0}, "", {}, {}, survives});
  fs::create_symlink(null, dev / "link_to_null");
  check({"symlink_to_null", cat(base, {"--out", (dev / "link_to_null").string()}), {0}, "", {}, {},
         [&](const RunResult& r, const fs::path& d, std::vector<std::string>& problems) {
           survives(r, d, problems);
           expect_kind(problems, dev / "link_to_null", "symlink");
         }});
  check({"full_out", cat(base, {"--out", full.string()}), {1}, "No space left on device", {}, {}, survives});
  check({"full_save_raw", cat(base, {"--save-raw", full.string()}), {1}, "No space left on device", {}, {}, survives});
  // The default model saturates (a warning on success): a failed run still says one line.
  check({"full_out_default_model", {"explain", "--method", "gradcam", "--out", full.string()}, {1}, "No space left on device", {}, {},
         survives});
  check({"full_save_logits", {"classify", "--weights", tiny().string(), "--input", input().string(), "--save-logits", full.string()},
         {1}, "No space left on device", {}, {}, survives});
  // The panel (default model) onto the devices.
  check({"panel_null", {"explain", "--out", null.string()}, {0}, "", {}, {}, survives});
  check({"panel_full", {"explain", "--out", full.string()}, {1}, "No space left on device", {}, {}, survives});
}

void group_valid() {
  // The baseline: the F32 model on the F32 input.
  const auto classify = [](const fs::path& w, const fs::path& in) {
    return std::vector<std::string>{"classify", "--weights", w.string(), "--input", in.string()};
  };
  const RunResult base = check({"baseline", classify(tiny(), input()), {0}, "", {}, {}, {}});
  const auto want = top1(base.out);
  if (want.size() != 2) {
    ++g_failures;
    std::printf("FAIL baseline output has %zu top-1 lines, expected 2:\n%s\n", want.size(), base.out.c_str());
    return;
  }
  auto same = [&](std::string name, std::vector<std::string> args, bool exact) {
    check({std::move(name), std::move(args), {0}, "", {}, {}, [&, exact](const RunResult& r, const fs::path&, auto& problems) {
             if (top1(r.out) != want) problems.push_back("top-1 classes differ from the F32 baseline");
             if (exact && r.out != base.out) problems.push_back("output differs from the F32 baseline:\n" + r.out);
           }});
  };
  const std::string model = read_bytes(tiny());
  same("weights_f64", classify(g_data / "vgg_tiny" / "model_f64.safetensors", input()), true);
  same("input_f64", classify(tiny(), g_data / "vgg_tiny" / "input_f64.npy"), true);
  for (std::size_t pad = 1; pad <= 3; ++pad)  // data section starts at offsets 1, 2, 3 mod 4
    same("weights_misaligned_" + std::to_string(pad),
         classify(write_bytes("misaligned" + std::to_string(pad) + ".safetensors", serialise(parse_safetensors(model), pad)), input()),
         true);
  same("weights_f16", classify(write_bytes("f16.safetensors", model_as16(model, "F16")), input()), false);
  same("weights_bf16", classify(write_bytes("bf16.safetensors", model_as16(model, "BF16")), input()), false);
  {
    auto s = parse_safetensors(model);  // an extra zero-size tensor: not part of a VGG
    nlohmann::ordered_json e = {{"dtype", "F32"}, {"shape", {0}}, {"data_offsets", {s.data.size(), s.data.size()}}};
    s.header["extra.empty"] = e;
    check({"weights_extra_zero_size_tensor", classify(write_bytes("extra.safetensors", serialise(s)), input()), {1},
           "extra.empty", {}, {}, {}});
  }
  // One image of the batch as [C, H, W].
  const std::string in = read_bytes(input());
  {
    const std::size_t n = 3 * 64 * 64;
    std::vector<float> v(n);
    std::memcpy(v.data(), in.data() + npy_data_offset(in), n * 4);
    check({"input_chw", classify(tiny(), write_bytes("chw.npy", npy_f32({3, 64, 64}, v))), {0}, "", {}, {},
           [&](const RunResult& r, const fs::path&, auto& problems) {
             const auto t = top1(r.out);
             if (t.size() != 1 || t[0] != want[0]) problems.push_back("top-1 class differs from image 0 of the baseline");
           }});
  }
  // Outputs of a successful explain: written, complete, nothing else left.
  check({"explain_writes_outputs",
         cat(explain_base(tiny(), input()),
             {"--method", "gradcam", "--score", "log", "--out", "o.png", "--save-raw", "r.npy", "--save-map", "m.npy"}),
         {0},
         "",
         {"o.png", "r.npy", "m.npy"},
         {},
         {}});
  // The audit runs every method x score space on the model and its twin, and says so.
  check({"audit_runs", {"audit", "--weights", tiny().string(), "--input", input().string(), "--steps", "2"}, {0}, "", {}, {},
         [](const RunResult& r, const fs::path&, auto& problems) {
           // every method x every shift-invariant score space: the count comes from the method and
           // score tables, not a typed number
           std::size_t invariant_spaces = 0;
           for (const auto& si : gradattr::score::kScoreInfo) invariant_spaces += si.shift_invariant;
           const std::string all = std::to_string(invariant_spaces * gradattr::kGeneralMethods.size());
           for (const std::string& want : {std::string("shifted twin"), std::string("smoothgrad"), std::string("centered"),
                                          all + "/" + all + " shift-invariant maps invariant", std::string("information gain")})
             if (r.out.find(want) == std::string::npos) problems.push_back(std::string("output lacks '") + want + "':\n" + r.out);
         }});
  // --version: the version and the commit it was built from.
  check({"version", {"--version"}, {0}, "", {}, {}, [](const RunResult& r, const fs::path&, auto& problems) {
           if (r.out.rfind("gradattr 0.1.0 (commit ", 0) != 0 || r.out.size() < 26 || r.out.substr(r.out.size() - 2) != ")\n")
             problems.push_back("--version prints '" + r.out + "', not 'gradattr 0.1.0 (commit <describe>)'");
         }});
  // bench --workload all: every workload, one line each, in order.
  check({"bench_all", {"bench", "--weights", tiny().string(), "--size", "32", "--repeat", "1", "--steps", "2", "--workload", "all"},
         {0}, "", {}, {}, [](const RunResult& r, const fs::path&, auto& problems) {
           std::vector<std::string> names;
           std::istringstream in(r.out);
           for (std::string line; std::getline(in, line);) names.push_back(line.substr(0, line.find(' ')));
           const std::vector<std::string> want = {"forward", "input-grad", "gradcam", "full", "rsi-gradcam", "ig", "smoothgrad", "scorecam"};
           if (names != want) problems.push_back("bench --workload all ran:\n" + r.out);
         }});
  // --json: one JSON object with the numbers of the text output.
  const auto number_after = [](const std::string& text, const std::string& key) {
    const auto at = text.find(key);
    return at == std::string::npos ? NAN : std::stod(text.substr(at + key.size()));
  };
  const auto close_to = [](double printed, double exact) {  // %.6g in the text
    return std::abs(printed - exact) <= 1e-5 * std::max(1.0, std::abs(exact));
  };
  const auto ex = cat(explain_base(tiny(), input()), {"--method", "ig", "--score", "log", "--steps", "4"});
  const RunResult text = check({"explain_text", ex, {0}, "", {}, {}, {}});
  check({"explain_json", cat(ex, {"--json"}), {0}, "", {}, {}, [&](const RunResult& r, const fs::path&, auto& problems) {
           try {
             const auto j = nlohmann::json::parse(r.out);
             if (j.at("method") != "ig" || j.at("score") != "log") problems.push_back("method/score wrong: " + r.out);
             const auto& im = j.at("images");
             if (im.size() != 2) problems.push_back("not 2 images: " + r.out);
             std::istringstream in(text.out);
             std::string line;
             for (const auto& e : im) {
               std::getline(in, line);
               for (const char* k : {"y_c", "z_c", "S", "completeness", "gap"})
                 if (!close_to(number_after(line, std::string(" ") + k + "="), e.at(k).get<double>()))
                   problems.push_back(std::string(k) + " differs from the text output: " + line + " vs " + e.dump());
               if (number_after(line, " class=") != e.at("class").get<double>()) problems.push_back("class differs: " + line);
             }
           } catch (const std::exception& e) {
             problems.push_back(std::string("not one JSON object: ") + e.what() + "\n" + r.out);
           }
         }});
  const auto cl = std::vector<std::string>{"classify", "--weights", tiny().string(), "--input", input().string(), "--top", "3"};
  check({"classify_json", cat(cl, {"--json"}), {0}, "", {}, {}, [&](const RunResult& r, const fs::path&, auto& problems) {
           try {
             const auto j = nlohmann::json::parse(r.out);
             std::string from_json;
             for (const auto& im : j.at("images"))
               for (const auto& t : im.at("top")) {
                 char buf[128];
                 std::snprintf(buf, sizeof buf, "%lld\t%lld\t%.6f\t%s\n", t.at("rank").get<long long>(), t.at("class").get<long long>(),
                               t.at("probability").get<double>(), t.at("label").get<std::string>().c_str());
                 from_json += buf;
               }
             const RunResult txt = run(cl, g_scratch);
             std::string want;  // the text without the "image n" lines
             std::istringstream in(txt.out);
             for (std::string line; std::getline(in, line);)
               if (line.rfind("image ", 0) != 0) want += line + "\n";
             if (from_json != want) problems.push_back("JSON:\n" + from_json + "text:\n" + want);
           } catch (const std::exception& e) {
             problems.push_back(std::string("not one JSON object: ") + e.what() + "\n" + r.out);
           }
         }});
  // The panel (default model): the JSON rows hold the table's numbers.
  check({"panel_json", {"explain", "--json", "--out", "p.png"}, {0}, "", {"p.png"}, {}, [&](const RunResult& r, const fs::path&, auto& problems) {
           try {
             const auto j = nlohmann::json::parse(r.out);
             const RunResult txt = run({"explain", "--out", (g_scratch / "panel_text.png").string()}, g_scratch);
             std::istringstream in(txt.out);
             std::string line;
             std::getline(in, line);  // the header
             if (j.at("rows").size() != 5) problems.push_back("not 5 rows: " + r.out);
             // one column per score space of the library's list, one agreement per pair of them
             std::vector<std::string> pairs;
             for (std::size_t a = 0; a < gradattr::score::kScoreInfo.size(); ++a)
               for (std::size_t b = a + 1; b < gradattr::score::kScoreInfo.size(); ++b)
                 pairs.push_back(std::string(gradattr::score::kScoreInfo[a].name) + "~" + std::string(gradattr::score::kScoreInfo[b].name));
             if (j.at("columns").size() != gradattr::score::kScoreInfo.size()) problems.push_back("columns: " + r.out);
             for (const auto& row : j.at("rows")) {
               std::getline(in, line);
               char buf[400];
               int len = std::snprintf(buf, sizeof buf, "%-14s %5lld %-10.10s %9.4f", row.at("display").get<std::string>().c_str(),
                                       row.at("class").get<long long>(), row.at("label").get<std::string>().c_str(), row.at("y_c").get<double>());
               if (row.at("spearman").size() != pairs.size()) problems.push_back("spearman pairs: " + row.dump());
               for (const auto& p : pairs)
                 len += std::snprintf(buf + len, sizeof buf - static_cast<std::size_t>(len), " %14.4f", row.at("spearman").at(p).get<double>());
               if (line != buf) problems.push_back("text row '" + line + "' vs JSON '" + buf + "'");
             }
           } catch (const std::exception& e) {
             problems.push_back(std::string("not one JSON object: ") + e.what() + "\n" + r.out);
           }
         }});
  const auto au = std::vector<std::string>{"audit", "--weights", tiny().string(), "--input", input().string(), "--steps", "2"};
  check({"audit_json", cat(au, {"--json"}), {0}, "", {}, {}, [&](const RunResult& r, const fs::path&, auto& problems) {
           try {
             const auto j = nlohmann::json::parse(r.out);
             const RunResult txt = run(au, g_scratch);
             if (!close_to(number_after(txt.out, "y_c = "), j.at("y_c").get<double>())) problems.push_back("y_c differs");
             if (j.at("rows").size() != 52) problems.push_back("not 52 rows (13 methods x 4 score spaces)");
             if (j.at("invariant_ok") != 39 || j.at("invariant_expected") != 39) problems.push_back("invariant counts differ");
             if (j.at("precision") != "float") problems.push_back("precision is not float");
           } catch (const std::exception& e) {
             problems.push_back(std::string("not one JSON object: ") + e.what() + "\n" + r.out);
           }
         }});
  check({"classify_save_logits",
         {"classify", "--weights", tiny().string(), "--input", input().string(), "--save-logits", "z.npy"},
         {0},
         "",
         {"z.npy"},
         {},
         {}});
}

// Every file of tests/data/bad that the CLI can be handed: safetensors as --weights, NPY as
// --input, images as --image. Bad files must fail with exit 1 and the corpus's message; the
// valid-but-unusual ones must load (images then run through the model) or, when they are not a
// model (an empty or non-VGG safetensors file) or not an input (a scalar NPY), fail cleanly.
void group_corpus() {
  std::ifstream f(g_data / "bad" / "manifest.json");
  const auto manifest = nlohmann::json::parse(f);
  int n = 0;
  for (const auto& e : manifest["entries"]) {
    const auto loader = e["loader"].get<std::string>();
    const auto file = (g_data / "bad" / e["file"].get<std::string>()).string();
    const auto expect = e["expect"].get<std::string>();
    std::vector<std::string> args;
    if (loader == "safetensors")
      args = explain_base(file, input());
    else if (loader == "npy")
      args = explain_base(tiny(), file);
    else if (loader == "image")
      args = {"explain", "--weights", tiny().string(), "--image", file};
    else
      continue;  // IDX: not a CLI input
    args = cat(args, {"--method", "gradcam", "--out", "o.png", "--save-raw", "r.npy", "--save-map", "m.npy"});
    Case c{"corpus_" + e["file"].get<std::string>(), args, {1}, e.value("message", ""), {}, {}, {}};
    for (auto& ch : c.name)
      if (ch == '/') ch = '_';
    // The VGG reader looks at names and shapes before any tensor is converted: a tensor of a
    // dtype gradattr does not convert is, to the CLI, a tensor that is not part of a VGG.
    if (e["file"] == "safetensors/unsupported_dtype_i64.safetensors") c.message = "unexpected tensor";
    if (expect == "ok") {
      c.message.clear();
      if (loader == "image") {
        c.expect = {0};
        c.outputs = {"o.png", "r.npy", "m.npy"};
      }
    }
    check(c);
    ++n;
  }
  if (n < 80) {
    ++g_failures;
    std::printf("FAIL only %d corpus entries ran through the CLI\n", n);
  }
}

// ONNX models (built with gradattr::onnx): the user's tour of docs/models.md on the fixtures of
// tests/data/onnx, flag errors, and the crafted bad corpus (tests/data/bad/onnx/expected.json)
// through `gradattr layers`.
void group_onnx() {
  const auto resnet = (g_data / "onnx" / "resnet_basic" / "model.onnx").string();
  const auto x = (g_data / "onnx" / "resnet_basic" / "x.npy").string();
  std::ifstream mf(g_data / "onnx" / "resnet_basic" / "meta.json");
  const auto meta = nlohmann::json::parse(mf);
  const auto argmax = std::to_string(meta.at("argmax").get<int>());
  auto stdout_has = [](std::string s) {
    return [s](const RunResult& r, const fs::path&, std::vector<std::string>& problems) {
      if (r.out.find(s) == std::string::npos) problems.push_back("stdout does not mention '" + s + "'");
    };
  };
  check({"onnx_layers", {"layers", "--weights", resnet}, {0}, "", {}, {}, stdout_has("default CAM layer (no --layer): layer4")});
  check({"onnx_layers_json", {"layers", "--weights", resnet, "--json"}, {0}, "", {}, {}, stdout_has("\"layer3.0.relu\"")});
  // The top class is torch's argmax: the first row of the table.
  check({"onnx_classify", {"classify", "--weights", resnet, "--input", x, "--top", "1"}, {0}, "", {}, {},
         stdout_has("1\t" + argmax + "\t")});
  const auto base = std::vector<std::string>{"explain", "--weights", resnet, "--input", x};
  check({"onnx_explain_module_path", cat(base, {"--method", "gradcam", "--score", "log", "--layer", "layer3.0.relu", "--save-raw", "r.npy"}),
         {0}, "", {"r.npy"}, {}, stdout_has("layer=layer3.0.relu")});
  check({"onnx_explain_value_name",
         cat(base, {"--method", "hirescam", "--layer", "/layer4/layer4.0/relu_1/Relu_output_0", "--save-map", "m.npy"}), {0}, "",
         {"m.npy"}, {}, stdout_has("layer=layer4")});
  check({"onnx_explain_default_layer", cat(base, {"--method", "gradcam++", "--out", "o.png"}), {0}, "", {"o.png"}, {},
         stdout_has("layer=layer4")});
  check({"onnx_explain_input_method", cat(base, {"--method", "ig", "--steps", "4", "--save-raw", "r.npy"}), {0}, "", {"r.npy"}, {}, {}});
  check({"onnx_unknown_layer", cat(base, {"--method", "gradcam", "--layer", "layer9"}), {2}, "layer9", {}, {}, {}});
  check({"onnx_layer_not_spatial", cat(base, {"--method", "gradcam", "--layer", "fc"}), {2}, "no spatial dimensions", {}, {}, {}});
  check({"onnx_arch", cat(base, {"--arch", "vgg19", "--method", "gradcam"}), {2}, "ONNX", {}, {}, {}});
  check({"onnx_wrong_size", {"classify", "--weights", resnet, "--input", (g_data / "onnx" / "vgg_tiny" / "x.npy").string()}, {1},
         "[N, 3, 64, 64]", {}, {}, {}});
  check({"onnx_audit", {"audit", "--weights", resnet, "--input", x, "--steps", "2", "--double"}, {0}, "", {}, {}, {}});
  check({"onnx_bench", {"bench", "--weights", resnet, "--workload", "all", "--repeat", "1", "--steps", "2"}, {0}, "", {}, {},
         stdout_has("full batch=1")});
  check({"onnx_bench_size", {"bench", "--weights", resnet, "--size", "96"}, {2}, "64x64", {}, {}, {}});
  // Attention methods (docs/cli.md): on the narrow ViT, the raw map saved is PyTorch's
  // (tests/data/onnx/vit_narrow/attention/, tools/make_vit_fixtures.py) for every score space;
  // on a CNN (the ResNet, the VGG), a usage error naming the method before any work.
  const auto vit_dir = g_data / "onnx" / "vit_narrow";
  const auto vit = (vit_dir / "model.onnx").string();
  const auto vit_x = (vit_dir / "x.npy").string();
  // bench's Grad-CAM path folds the token layer as the methods do (it failed on a ViT before:
  // "cam::gradcam_map: activations must be [N, K, H, W]")
  check({"onnx_vit_bench_gradcam", {"bench", "--weights", vit, "--workload", "gradcam", "--repeat", "1"}, {0}, "", {}, {},
         stdout_has("gradcam batch=1")});
  auto raw_matches = [](fs::path want) {
    return [want](const RunResult&, const fs::path& dir, std::vector<std::string>& problems) {
      const auto got = gradattr::io::read_npy_f64((dir / "r.npy").string());
      const auto ref = gradattr::io::read_npy_f64(want.string());
      if (got.shape() != ref.shape()) {
        problems.push_back("r.npy is " + got.shape().str() + ", want " + ref.shape().str());
        return;
      }
      double num = 0, den = 0;
      for (std::int64_t i = 0; i < ref.numel(); ++i) {
        num = std::max(num, std::abs(got[i] - ref[i]));
        den = std::max(den, std::abs(ref[i]));
      }
      if (!(num <= 1e-4 * den)) problems.push_back("r.npy differs from " + want.string() + " by " + std::to_string(num / den));
    };
  };
  for (const auto& si : gradattr::score::kScoreInfo) {
    const std::string space(si.name);
    check({"onnx_vit_attention_relevance_" + space,
           {"explain", "--weights", vit, "--input", vit_x, "--method", "attention-relevance", "--score", space, "--save-raw", "r.npy"},
           {0}, "", {"r.npy"}, {}, raw_matches(vit_dir / "attention" / ("relevance__" + space + ".npy"))});
    check({"onnx_vit_rollout_" + space,
           {"explain", "--weights", vit, "--input", vit_x, "--method", "rollout", "--score", space, "--save-raw", "r.npy"},
           {0}, "", {"r.npy"}, {}, raw_matches(vit_dir / "attention" / "rollout.npy")});
  }
  check({"onnx_vit_rollout_overlay", {"explain", "--weights", vit, "--input", vit_x, "--method", "rollout", "--out", "o.png"},
         {0}, "", {"o.png"}, {}, stdout_has("rollout score=post layer=attention image=0")});
  check({"onnx_attention_on_cnn", cat(base, {"--method", "rollout"}), {2},
         "--method rollout needs a model with attention layers", {}, {}, {}});
  check({"vgg_attention_relevance", cat(explain_base(tiny(), input()), {"--method", "attention-relevance", "--score", "pre"}), {2},
         "--method attention-relevance needs a model with attention layers", {}, {}, {}});
  // The bad corpus: exit 1, one line naming the file and what its manifest says; the control loads.
  std::ifstream ef(g_data / "bad" / "onnx" / "expected.json");
  const auto expected = nlohmann::json::parse(ef);
  for (const auto& [file, want] : expected.items()) {
    const auto path = (g_data / "bad" / "onnx" / file).string();
    Case c{"onnx_corpus_" + file, {"layers", "--weights", path}, {1}, file, {}, {}, {}};
    if (want.at("error").is_null()) {
      c.expect = {0};
      c.message.clear();
    } else {
      c.extra = [want](const RunResult& r, const fs::path&, std::vector<std::string>& problems) {
        for (const auto& s : want.at("must_name"))
          if (r.err.find(s.get<std::string>()) == std::string::npos) problems.push_back("stderr does not name " + s.dump());
      };
    }
    check(c);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s <gradattr> <tests/data> <args|files|outputs|targets|devices|valid|corpus|onnx> <scratch dir>\n", argv[0]);
    return 3;
  }
  g_cli = fs::absolute(argv[1]).string();
  g_data = fs::absolute(argv[2]);
  const std::string group = argv[3];
  g_scratch = fs::absolute(argv[4]) / group;
  fs::remove_all(g_scratch);
  fs::create_directories(g_scratch);
  const std::map<std::string, void (*)()> groups = {
      {"args", group_args},       {"files", group_files},     {"outputs", group_outputs}, {"valid", group_valid},
      {"corpus", group_corpus},   {"targets", group_targets}, {"devices", group_devices}, {"onnx", group_onnx}};
  const auto it = groups.find(group);
  if (it == groups.end()) {
    std::fprintf(stderr, "unknown group %s\n", group.c_str());
    return 3;
  }
  it->second();
  std::printf("%d passed, %d failed%s\n", g_passed, g_failures, g_skipped ? " (some cases skipped, see above)" : "");
  if (g_failures == 0) fs::remove_all(g_scratch);
  return g_failures == 0 ? 0 : 1;
}
