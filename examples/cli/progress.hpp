#pragma once
// A progress bar on stderr for long runs: drawn only when stderr is a terminal (so logs, pipes
// and CI output stay clean) and only once the run has lasted `delay` seconds (2 by default;
// $GRADATTR_PROGRESS_DELAY overrides it, e.g. 0 to see it at once). Shows done/total, the time
// so far and an ETA. Plugs into the library's progress callbacks: bar(done, total). A run made
// of several calls (the panel, bench) sets bar.stage(k, n) before call k of n: the ETA is then
// the whole run's.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <optional>
#include <string>

namespace gradattr_cli {

inline double default_progress_delay() {
  if (const char* env = std::getenv("GRADATTR_PROGRESS_DELAY"); env && *env) {
    char* end = nullptr;
    const double d = std::strtod(env, &end);
    if (end && *end == '\0' && d >= 0) return d;
  }
  return 2.0;
}

class ProgressBar {
 public:
  using Clock = std::function<double()>;  // seconds, monotonic

  explicit ProgressBar(std::string label, std::FILE* out = stderr, std::optional<bool> enabled = std::nullopt,
                       std::optional<double> delay = std::nullopt, Clock clock = {})
      : label_(std::move(label)),
        out_(out),
        enabled_(enabled ? *enabled : isatty(fileno(out)) != 0),
        delay_(delay ? *delay : default_progress_delay()),
        clock_(clock ? std::move(clock) : Clock([] {
          return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
        })),
        start_(clock_()) {}
  ~ProgressBar() { finish(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  // Also show the rate, done per second ("3.2 images/s").
  void show_rate(std::string unit) { rate_unit_ = std::move(unit); }

  // The run is n calls; the next progress reports are call k's (0-based).
  void stage(std::size_t k, std::size_t n) {
    stage_ = k;
    stages_ = n == 0 ? 1 : n;
    (*this)(0, 0);
  }

  void operator()(std::size_t done, std::size_t total) {
    if (!enabled_) return;
    const double now = clock_();
    const double secs = now - start_;
    if (secs < delay_) return;
    const bool last = total > 0 && done >= total && stage_ + 1 >= stages_;
    if (!last && drawn_ && now - last_draw_ < 0.1) return;
    last_draw_ = now;
    const double part = total > 0 ? static_cast<double>(done) / static_cast<double>(total) : 0.0;
    const double fraction = (static_cast<double>(stage_) + part) / static_cast<double>(stages_);
    constexpr int kWidth = 30;
    const int filled = static_cast<int>(kWidth * fraction);
    std::string counts;
    if (stages_ > 1) counts += std::to_string(stage_ + 1) + "/" + std::to_string(stages_) + " ";
    if (total > 0) counts += std::to_string(done) + "/" + std::to_string(total) + " ";
    char rate[64] = "";
    if (!rate_unit_.empty() && secs > 0 && total > 0)
      std::snprintf(rate, sizeof rate, " %.1f %s/s", static_cast<double>(done) / secs, rate_unit_.c_str());
    char eta[32] = "";
    if (fraction > 0 && fraction < 1) std::snprintf(eta, sizeof eta, " ETA %.1fs", secs * (1 - fraction) / fraction);
    std::fprintf(out_, "\r%s [%.*s%*s] %s%.1fs%s%s\033[K", label_.c_str(), filled, "##############################", kWidth - filled,
                 "", counts.c_str(), secs, rate, eta);
    std::fflush(out_);
    drawn_ = true;
  }
  void finish() {
    if (drawn_) {
      std::fputc('\n', out_);
      std::fflush(out_);
    }
    drawn_ = false;
  }

 private:
  std::string label_;
  std::FILE* out_;
  bool enabled_;
  double delay_;
  Clock clock_;
  double start_;
  double last_draw_ = 0;
  bool drawn_ = false;
  std::size_t stage_ = 0, stages_ = 1;
  std::string rate_unit_;
};

}  // namespace gradattr_cli
