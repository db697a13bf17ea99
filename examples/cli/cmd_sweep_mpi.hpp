#pragma once
// mpirun -np N gradattr sweep ... --out results.sqlite (docs/sweep.md, "MPI"): rank 0 hands out
// the images one at a time (gradattr/sweep/mpi.hpp), every rank writes its own database
// `results.sqlite.rank<r>` (SQLite is not for concurrent writers, least of all over NFS), and at
// the end rank 0 merges them, with what --out already held, into --out (merge_databases). A
// rerun after a killed job resumes from the rank databases: the images they hold are not handed
// out again. Built only with -DGRADATTR_MPI=ON (GRADATTR_CLI_MPI).
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <gradattr/io/sha256.hpp>
#include <gradattr/sweep/mpi.hpp>
#include <gradattr/sweep/store.hpp>

#include "cmd_sweep.hpp"

namespace gradattr_cli {

// The rank databases of `out` on disk: "<out>.rank<digits>" (not their -wal/-shm), sorted.
inline std::vector<std::string> rank_databases(const std::string& out) {
  namespace fs = std::filesystem;
  const fs::path p(out);
  const fs::path dir = p.has_parent_path() ? p.parent_path() : fs::path(".");
  const std::string prefix = p.filename().string() + ".rank";
  std::vector<std::string> found;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string n = it->path().filename().string();
    if (n.size() <= prefix.size() || n.compare(0, prefix.size(), prefix) != 0) continue;
    if (n.find_first_not_of("0123456789", prefix.size()) != std::string::npos) continue;
    found.push_back((p.has_parent_path() ? (dir / n).string() : n));
  }
  std::sort(found.begin(), found.end());
  return found;
}

inline void remove_database(const std::string& path) {
  std::error_code ec;
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(path + suffix, ec);
}

// What a database already holds of this run: its finished keys; Error when it holds another
// run (or several).
inline void add_finished(const std::string& path, const gradattr::sweep::RunInfo& info, std::set<gradattr::sweep::ResultKey>& done) {
  namespace sw = gradattr::sweep;
  const sw::Store st = sw::Store::open_read_only(path);
  const auto runs = st.runs();
  if (runs.size() != 1)
    throw gradattr::Error("'" + path + "' holds " + std::to_string(runs.size()) +
                          " runs; an MPI sweep resumes a database of one run (without --new-run)");
  const std::string diff = sw::run_difference(st.run_info(runs[0]), info, false);
  if (!diff.empty())
    throw sw::OptionsMismatch("'" + path + "' holds a run made with other options: " + diff +
                              " (rerun with the same options to resume it, or use another --out)");
  for (auto& k : st.finished(runs[0])) done.insert(k);
}

inline gradattr::sweep::mpi::Failure failure_of(const std::exception_ptr& e) {
  try {
    std::rethrow_exception(e);
  } catch (const UsageError& u) {
    return {2, u.what()};
  } catch (const std::bad_alloc&) {
    return {1, "out of memory"};
  } catch (const std::exception& x) {
    return {1, x.what()};
  }
  return {1, "unknown error"};
}

inline int run_sweep_mpi(const SweepArgs& a, const gradattr::sweep::mpi::World& w) {
  namespace sw = gradattr::sweep;
  const bool root = w.rank() == 0;
  // Every rank agrees on each step's outcome; a failure ends every rank with the first failing
  // rank's status, printed once (by rank 0).
  auto settle = [&](const sw::mpi::Failure& mine) {
    const auto f = w.agree(mine);
    if (f.code && root) std::fprintf(stderr, "gradattr: %s\n", f.message.c_str());
    return f.code;
  };
  auto attempt = [&](auto&& step) -> sw::mpi::Failure {
    try {
      step();
      return {};
    } catch (...) {
      return failure_of(std::current_exception());
    }
  };

  // 1. The command line, the model, the list: on every rank (each reads the images it computes).
  std::optional<SweepSetup> setup;
  if (int c = settle(attempt([&] {
        if (!a.shard.empty())
          throw UsageError("--shard with mpirun: the ranks share the images out dynamically (run without --shard, or without mpirun)");
        if (a.new_run) throw UsageError("--new-run with mpirun: start the new run without mpirun, or use another --out");
        setup.emplace(prepare_sweep(a));
        setup->info.threads = omp_get_max_threads();
      })))
    return c;
  const SweepSetup& s = *setup;

  // 2. Every rank sees rank 0's list; rank 0 finds what --out and the rank databases already hold.
  std::string names = std::to_string(s.listed) + "\n";
  for (std::int64_t i = 0; i < s.listed; ++i) names += s.src->item(i).name + "\n";
  const std::string mine = gradattr::io::sha256_hex(reinterpret_cast<const unsigned char*>(names.data()), names.size());
  const std::string root_list = w.broadcast(mine);
  const std::string shard_path = a.out + ".rank" + std::to_string(w.rank());
  std::vector<std::int64_t> todo;
  std::int64_t already = 0;
  if (int c = settle(attempt([&] {
        if (mine != root_list)
          throw gradattr::Error("rank " + std::to_string(w.rank()) + " on " + host_name() + " lists other images than rank 0 (" +
                                std::to_string(s.listed) + " of '" + s.src->spec().path +
                                "' here): every rank must see the same image files");
        if (!root) return;
        std::set<sw::ResultKey> done;
        std::error_code ec;
        if (std::filesystem::exists(a.out, ec)) add_finished(a.out, s.info, done);
        for (const auto& p : rank_databases(a.out)) add_finished(p, s.info, done);
        for (std::int64_t i = 0; i < s.listed; ++i) {
          if (sweep_todo(s, i, done)) todo.push_back(i);
          else ++already;
        }
      })))
    return c;

  // 3. Every rank's own database.
  std::optional<sw::Store> store;
  std::int64_t run = 0;
  if (int c = settle(attempt([&] {
        store.emplace(sw::Store::open_or_create(shard_path));
        run = store->begin_run(s.info, false);
      })))
    return c;

  // 4. The images, handed out one at a time. An error here (a full disk) ends the whole job.
  const std::int64_t abort_k = abort_after();
  const auto t0 = std::chrono::steady_clock::now();
  std::int64_t committed = 0, new_rows = 0, new_failed = 0;
  {
    sw::mpi::WorkQueue queue(w, todo);
    const std::set<sw::ResultKey> none;
    try {
      // The next image is asked for (on this thread: MPI calls stay here) and read ahead while
      // this one is computed.
      auto prefetch = sweep_prefetcher(s, a.cls);
      bool more = true;
      auto ask = [&] {
        if (!more) return;
        if (const auto i = queue.next()) prefetch.request(*i);
        else more = false;
      };
      ask();
      while (prefetch.outstanding() > 0) {
        const SweepInput in = prefetch.take();
        ask();
        const auto rows = sweep_rows(s, in, none);
        new_failed += failed_rows(rows);
        store->commit_image(run, in.rec, rows);
        new_rows += static_cast<std::int64_t>(rows.size());
        ++committed;
        if (abort_k >= 0 && committed >= abort_k) std::abort();
      }
      store->end_run(run, true, store->summary(run));
      store.reset();  // closed: its WAL folded into the file before rank 0 merges it
    } catch (...) {
      const auto f = failure_of(std::current_exception());
      std::fprintf(stderr, "gradattr: rank %d: %s\n", w.rank(), f.message.c_str());
      std::fflush(stderr);
      w.abort(f.code);
    }
  }
  const auto totals = w.sum({committed, new_rows, new_failed});
  w.barrier();

  // 5. Rank 0 merges --out (when it exists) and every rank database into --out, atomically.
  std::int64_t merged_run = 0;
  sw::RunSummary sum;
  if (int c = settle(attempt([&] {
        if (!root) return;
        std::vector<std::string> inputs;
        std::error_code ec;
        if (std::filesystem::exists(a.out, ec)) inputs.push_back(a.out);
        const auto shards = rank_databases(a.out);
        inputs.insert(inputs.end(), shards.begin(), shards.end());
        const std::string next = a.out + ".mpi-merge";
        remove_database(next);
        (void)sw::merge_databases(inputs, next);
        std::filesystem::rename(next, a.out, ec);
        if (ec) throw gradattr::IoError("cannot rename '" + next + "' to '" + a.out + "': " + ec.message());
        for (const auto& p : shards) remove_database(p);
        // The run's totals from its rows (an input may repeat rows another holds).
        sw::Store out = sw::Store::open_or_create(a.out);
        merged_run = out.runs().back();
        sum = out.summary(merged_run);
        out.end_run(merged_run, true, sum);
      })))
    return c;
  if (root) {
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    sweep_summary_lines(a.out, "mpi: " + std::to_string(w.size()) + " ranks", s.listed, totals[0], totals[1], totals[2], secs,
                        merged_run, sum);
  }
  (void)already;
  return 0;
}

// mpirun/srun with more than one rank: the MPI sweep; else (no launcher, or one rank) the
// sweep of one process, exactly as without MPI.
inline int run_sweep(const SweepArgs& a) {
  if (!gradattr::sweep::mpi::launched()) return run_sweep_local(a, prepare_sweep(a));
  const gradattr::sweep::mpi::World w;
  if (w.size() == 1) return run_sweep_local(a, prepare_sweep(a));
  return run_sweep_mpi(a, w);
}

}  // namespace gradattr_cli
