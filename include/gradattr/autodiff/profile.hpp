#pragma once
// Optional timing (`gradattr bench --profile`): off by default, and then it costs one pointer
// test per recorded op, per backward the gradient sweep runs (autodiff/grad.hpp) and per graph
// node (graph/graph_model.hpp).
//
// Rows are keyed by a label. A caller that runs named steps (a graph model's nodes) sets
// record_label() around each step: the forward time goes under that label, and every op the step
// records on a tape carries the label, so its backward time is added under the same label. Ops
// recorded without a label are timed under their op's name (e.g. "conv2d").
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace gradattr::ad {

struct OpTime {
  double seconds = 0;
  std::int64_t calls = 0;
  // Filled by a caller that knows what the label ran (a graph model's node), else empty / 0:
  std::string op;     // e.g. "Conv[3x3/s2]+Relu"
  std::string shape;  // of the output, e.g. "1x64x112x112"
  double flops = 0;   // multiply-adds x 2 of one call (Conv, Linear, MatMul; 0: not counted)
};
using OpTimes = std::map<std::string, OpTime>;

// While non-null on this thread, every backward the gradient sweep runs adds its wall time under
// its record's label, or its op's name when it has none.
inline OpTimes*& backward_profile() noexcept {
  thread_local OpTimes* p = nullptr;
  return p;
}

// While non-null on this thread, every op recorded on a tape is labelled with *record_label().
inline const std::string*& record_label() noexcept {
  thread_local const std::string* p = nullptr;
  return p;
}

// Sets record_label() for its lifetime (restoring the previous label).
class ScopedRecordLabel {
 public:
  explicit ScopedRecordLabel(const std::string* label) noexcept : saved_(record_label()) { record_label() = label; }
  ~ScopedRecordLabel() { record_label() = saved_; }
  ScopedRecordLabel(const ScopedRecordLabel&) = delete;
  ScopedRecordLabel& operator=(const ScopedRecordLabel&) = delete;

 private:
  const std::string* saved_;
};

namespace detail {
// Runs f() and adds its wall time to times[name].
template <class F>
void timed(OpTimes& times, const std::string& name, F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  OpTime& t = times[name];
  t.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ++t.calls;
}
}  // namespace detail

}  // namespace gradattr::ad
