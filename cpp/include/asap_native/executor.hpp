// Threads that run a store's SQLite work for the awaitable API, with group commit.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace asap_native {

class StoreStats;
namespace sqlite {
class Connection;
class Database;
}  // namespace sqlite

/// A unit of work: `run` uses a connection (inside the group transaction for writes);
/// `complete` is then called exactly once, on an executor thread, with null or the error
/// (for writes, only after the transaction committed). `complete` must not throw.
struct Job {
    std::function<void(sqlite::Connection&)> run;
    std::function<void(std::exception_ptr)> complete;
};

/// Figures about the group commits done so far.
struct ExecutorStats {
    std::uint64_t writes = 0;      ///< write jobs completed
    std::uint64_t reads = 0;       ///< read jobs completed
    std::uint64_t batches = 0;     ///< write transactions committed or attempted
    std::uint64_t largest_batch = 0;
};

/// Runs jobs for one database on threads it owns: one writer, which takes every queued write
/// and commits them in one transaction (group commit), and a few readers. Jobs that share a
/// key (a task id) run in submission order: a read submitted while writes for its key are
/// queued runs on the writer thread after them. Threads start on first use; a forked child
/// starts its own. Thread-safe.
class Executor {
public:
    /// `reader_threads` 0 picks a count for the machine (2 to 4). `stats` (may be null)
    /// receives the size of every group commit.
    explicit Executor(sqlite::Database& database, int reader_threads = 0,
                      std::size_t max_batch = 1024, StoreStats* stats = nullptr);
    /// Runs everything queued, then stops (see shutdown()).
    ~Executor();
    Executor(const Executor&) = delete;
    Executor& operator=(const Executor&) = delete;

    /// Queues a write. Throws StoreError(Closed) after shutdown().
    void submit_write(const std::string& key, Job job);
    /// Queues a read. Throws StoreError(Closed) after shutdown().
    void submit_read(const std::string& key, Job job);
    /// Stops accepting jobs, waits until every queued job has completed, joins the threads.
    void shutdown();
    /// Group-commit figures so far.
    ExecutorStats stats() const;

private:
    struct Queued {
        std::string key;
        Job job;
        bool is_write;
    };
    struct State;

    State& current_state();
    // Call with the state's mutex held.
    void start_threads(State& state);
    void writer_loop(State& state);
    void reader_loop(State& state);
    void run_read(Job& job);
    void finish_writes(State& state, std::vector<Queued>& writes);

    sqlite::Database& database_;
    int reader_threads_;
    std::size_t max_batch_;
    StoreStats* stats_;
    mutable std::mutex state_mutex_;
    std::unique_ptr<State> state_;
};

}  // namespace asap_native
