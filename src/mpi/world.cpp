// MPI distribution of a sweep (include/gradattr/sweep/mpi.hpp, docs/sweep.md "MPI").
#include "gradattr/sweep/mpi.hpp"

#include <mpi.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>

#include "gradattr/core/error.hpp"

namespace gradattr::sweep::mpi {

namespace {

constexpr int kTagRequest = 17001, kTagItem = 17002;
constexpr auto kPoll = std::chrono::microseconds(50);

// Open MPI's blocking calls spin; on an oversubscribed node a waiting rank would take the core
// of a computing one. Test and sleep instead.
void quiet_wait(MPI_Request* r) {
  int done = 0;
  MPI_Test(r, &done, MPI_STATUS_IGNORE);
  while (!done) {
    std::this_thread::sleep_for(kPoll);
    MPI_Test(r, &done, MPI_STATUS_IGNORE);
  }
}

}  // namespace

World::World() {
  int provided = 0;
  if (MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided) != MPI_SUCCESS)
    throw Error("MPI_Init_thread failed");
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
  if (provided < MPI_THREAD_SERIALIZED && size_ > 1) {
    MPI_Finalize();
    throw Error("the MPI library gives thread level " + std::to_string(provided) +
                ", the sweep's dispatcher thread needs MPI_THREAD_SERIALIZED");
  }
}

World::~World() { MPI_Finalize(); }

Failure World::agree(const Failure& mine) const {
  const int me = mine.code ? rank_ : size_;
  int first = size_;
  MPI_Request r;
  MPI_Iallreduce(&me, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD, &r);
  quiet_wait(&r);
  if (first == size_) return {};
  int code = mine.code;
  MPI_Bcast(&code, 1, MPI_INT, first, MPI_COMM_WORLD);
  std::int64_t n = static_cast<std::int64_t>(mine.message.size());
  MPI_Bcast(&n, 1, MPI_INT64_T, first, MPI_COMM_WORLD);
  std::string msg = rank_ == first ? mine.message : std::string(static_cast<std::size_t>(n), '\0');
  MPI_Bcast(msg.data(), static_cast<int>(n), MPI_CHAR, first, MPI_COMM_WORLD);
  return {code, msg};
}

std::string World::broadcast(const std::string& s) const {
  std::int64_t n = static_cast<std::int64_t>(s.size());
  MPI_Bcast(&n, 1, MPI_INT64_T, 0, MPI_COMM_WORLD);
  std::string out = rank_ == 0 ? s : std::string(static_cast<std::size_t>(n), '\0');
  MPI_Bcast(out.data(), static_cast<int>(n), MPI_CHAR, 0, MPI_COMM_WORLD);
  return out;
}

std::vector<std::int64_t> World::sum(const std::vector<std::int64_t>& v) const {
  std::vector<std::int64_t> out(v.size());
  MPI_Request r;
  MPI_Iallreduce(v.data(), out.data(), static_cast<int>(v.size()), MPI_INT64_T, MPI_SUM, MPI_COMM_WORLD, &r);
  quiet_wait(&r);
  return out;
}

void World::barrier() const {
  MPI_Request r;
  MPI_Ibarrier(MPI_COMM_WORLD, &r);
  quiet_wait(&r);
}

void World::abort(int code) const {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::abort();  // not reached
}

// ---------------------------------------------------------------------------------------------

struct WorkQueue::Impl {
  const World& world;
  std::mutex mu;
  std::deque<std::int64_t> items;  // rank 0
  std::thread dispatcher;          // rank 0, when size > 1
  bool finished = false;           // this rank was told there is nothing left

  std::optional<std::int64_t> pop() {
    std::lock_guard<std::mutex> lock(mu);
    if (items.empty()) return std::nullopt;
    const std::int64_t i = items.front();
    items.pop_front();
    return i;
  }

  // Rank 0's dispatcher: answers requests until every other rank has been told "none left".
  void dispatch() {
    int active = world.size() - 1;
    while (active > 0) {
      int flag = 0;
      MPI_Status st;
      MPI_Iprobe(MPI_ANY_SOURCE, kTagRequest, MPI_COMM_WORLD, &flag, &st);
      if (!flag) {
        std::this_thread::sleep_for(kPoll);
        continue;
      }
      int dummy = 0;
      MPI_Recv(&dummy, 1, MPI_INT, st.MPI_SOURCE, kTagRequest, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
      const auto item = pop();
      const std::int64_t reply = item ? *item : -1;
      if (!item) --active;
      MPI_Send(&reply, 1, MPI_INT64_T, st.MPI_SOURCE, kTagItem, MPI_COMM_WORLD);
    }
  }
};

WorkQueue::WorkQueue(const World& w, std::vector<std::int64_t> items) : impl_(new Impl{w, {}, {}, {}, false}) {
  if (w.rank() == 0) {
    impl_->items.assign(items.begin(), items.end());
    if (w.size() > 1) impl_->dispatcher = std::thread([this] { impl_->dispatch(); });
  }
}

WorkQueue::~WorkQueue() {
  if (impl_->dispatcher.joinable()) impl_->dispatcher.join();
}

std::optional<std::int64_t> WorkQueue::next() {
  if (impl_->finished) return std::nullopt;
  if (impl_->world.rank() == 0) {
    auto i = impl_->pop();
    if (!i) {
      impl_->finished = true;
      if (impl_->dispatcher.joinable()) impl_->dispatcher.join();  // MPI is the main thread's again
    }
    return i;
  }
  int dummy = 0;
  std::int64_t reply = -1;
  MPI_Request r;
  MPI_Irecv(&reply, 1, MPI_INT64_T, 0, kTagItem, MPI_COMM_WORLD, &r);
  MPI_Send(&dummy, 1, MPI_INT, 0, kTagRequest, MPI_COMM_WORLD);
  quiet_wait(&r);
  if (reply < 0) {
    impl_->finished = true;
    return std::nullopt;
  }
  return reply;
}

}  // namespace gradattr::sweep::mpi
