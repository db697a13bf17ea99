#pragma once
// Optional per-op timing (`gradattr bench --profile`): off by default, and then it costs one
// pointer test per recorded backward (autodiff/grad.hpp) and per graph node
// (graph/graph_model.hpp).
#include <chrono>
#include <cstdint>
#include <map>
#include <string>

namespace gradattr::ad {

struct OpTime {
  double seconds = 0;
  std::int64_t calls = 0;
};
using OpTimes = std::map<std::string, OpTime>;

// While non-null on this thread, every backward the gradient sweep runs adds its wall time under
// its op's name (the record's name, e.g. "conv2d").
inline OpTimes*& backward_profile() noexcept {
  thread_local OpTimes* p = nullptr;
  return p;
}

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
