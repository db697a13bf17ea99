#pragma once
// MPI distribution of a sweep (docs/sweep.md, "MPI"): the few MPI operations `gradattr sweep`
// needs, behind an interface without <mpi.h>, so that nothing but src/mpi/world.cpp (target
// gradattr_mpi, built with -DGRADATTR_MPI=ON) depends on MPI.
//
//   if (mpi::launched()) {                       // mpirun / srun started this process
//     mpi::World w;                              // MPI_Init_thread ... MPI_Finalize
//     auto f = w.agree(mine);                    // the first failing rank's error, on every rank
//     mpi::WorkQueue q(w, todo);                 // rank 0 hands out todo's items one at a time
//     while (auto i = q.next()) ...              // every rank, rank 0 included
//   }
//
// Rank 0 both computes and dispatches: a dispatcher thread answers the other ranks' requests
// (MPI_THREAD_SERIALIZED: while it runs it is the only thread calling MPI) and rank 0's own
// compute loop takes items from the same queue under a mutex. A dispatch-only rank 0 would leave
// one core of a small node idle; the dispatcher thread costs little (it polls with
// MPI_Iprobe and sleeps 50 µs between polls, not a busy wait).
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace gradattr::sweep::mpi {

// True when this process was started by an MPI launcher (Open MPI's mpirun, MPICH's hydra,
// Slurm's srun): their environment variables. Without them MPI is never initialised, so a
// gradattr built with MPI runs as a plain process exactly like one built without it.
inline bool launched() {
  for (const char* v : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_RANK", "PMI_RANK"})
    if (const char* e = std::getenv(v); e && *e) return true;
  return false;
}

struct Failure {
  int code = 0;           // 0: no failure; else the process's exit status (1, 2)
  std::string message;    // one line, without "gradattr: "
};

class World {
 public:
  World();   // MPI_Init_thread (MPI_THREAD_SERIALIZED); gradattr::Error when MPI cannot give it
  ~World();  // MPI_Finalize
  World(const World&) = delete;
  World& operator=(const World&) = delete;
  int rank() const { return rank_; }
  int size() const { return size_; }

  // Collective: the failure of the lowest-numbered failing rank (its code and message), on every
  // rank; {0, ""} when none failed. Lets every rank exit with one status and rank 0 print one line.
  Failure agree(const Failure& mine) const;
  // Collective: rank 0's string on every rank.
  std::string broadcast(const std::string& s) const;
  // Collective: the element-wise sum of every rank's values, on every rank.
  std::vector<std::int64_t> sum(const std::vector<std::int64_t>& v) const;
  // Collective: returns when every rank has called it; waits by polling, so a rank that finished
  // early does not spin on a core another rank computes on.
  void barrier() const;
  // Ends the whole job (MPI_Abort): for an error in one rank while the others compute.
  [[noreturn]] void abort(int code) const;

 private:
  int rank_ = 0, size_ = 1;
};

// Dynamic distribution: rank 0 holds the items (in order); next() returns this rank's next one,
// std::nullopt when none are left. A rank asks for one item when it has finished the previous
// one, so slow images do not stall the others (a static --shard would). Every rank must call
// next() until it returns nullopt; the destructor then joins rank 0's dispatcher.
class WorkQueue {
 public:
  WorkQueue(const World& w, std::vector<std::int64_t> items);  // items: used on rank 0 only
  ~WorkQueue();
  WorkQueue(const WorkQueue&) = delete;
  WorkQueue& operator=(const WorkQueue&) = delete;
  std::optional<std::int64_t> next();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace gradattr::sweep::mpi
