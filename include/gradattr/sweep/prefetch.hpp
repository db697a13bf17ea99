#pragma once
// Loads the next items of a sweep on a background thread while the current one is computed
// (docs/sweep.md, "Prefetch"): the kernels do not wait on reading and decoding an image.
//
//   Prefetcher<Input> pf([&](std::int64_t i) { return read_and_decode(i); });
//   pf.request(first); pf.request(second);      // loaded in this order, on pf's thread
//   Input a = pf.take();                        // the oldest request; waits for it; rethrows
//                                               // the exception its load threw
//
// The caller decides what is requested and when (a fixed list, or MPI's work queue, whose calls
// stay on the caller's thread), so the prefetch depth is how many requests are outstanding. `load`
// runs on one thread, one item at a time, in request order; it must not touch what the caller's
// thread changes meanwhile. The destructor waits for the load in progress (a load is not
// interrupted) and drops the rest.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "gradattr/core/error.hpp"

namespace gradattr::sweep {

template <class T>
class Prefetcher {
 public:
  explicit Prefetcher(std::function<T(std::int64_t)> load) : load_(std::move(load)), worker_([this] { work(); }) {}
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;
  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    worker_.join();
  }

  void request(std::int64_t i) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      requests_.push_back(i);
      ++outstanding_;
    }
    wake_.notify_all();
  }

  // Requests not yet taken (loading, loaded or waiting).
  std::size_t outstanding() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return outstanding_;
  }

  T take() {
    std::unique_lock<std::mutex> lock(mutex_);
    if (outstanding_ == 0) throw Error("Prefetcher::take: nothing was requested");
    wake_.wait(lock, [this] { return !done_.empty(); });
    Done d = std::move(done_.front());
    done_.pop_front();
    --outstanding_;
    lock.unlock();
    if (d.error) std::rethrow_exception(d.error);
    return std::move(*d.value);
  }

 private:
  struct Done {
    std::optional<T> value;
    std::exception_ptr error;
  };

  void work() {
    for (;;) {
      std::unique_lock<std::mutex> lock(mutex_);
      wake_.wait(lock, [this] { return stop_ || !requests_.empty(); });
      if (stop_) return;
      const std::int64_t i = requests_.front();
      requests_.pop_front();
      lock.unlock();
      Done d;
      try {
        d.value.emplace(load_(i));
      } catch (...) {
        d.error = std::current_exception();
      }
      lock.lock();
      done_.push_back(std::move(d));
      lock.unlock();
      wake_.notify_all();
    }
  }

  std::function<T(std::int64_t)> load_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::int64_t> requests_;
  std::deque<Done> done_;
  std::size_t outstanding_ = 0;
  bool stop_ = false;
  std::thread worker_;  // last: started once everything it reads is constructed
};

}  // namespace gradattr::sweep
