// What every database-backed store runs on, and the one path its operations take.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "asap_native/executor.hpp"
#include "asap_native/queued_call.hpp"
#include "asap_native/store_stats.hpp"

namespace asap_native {

/// The result type of a store operation's work: what `work(connection)` returns, with
/// `void` read as Nothing.
template <typename Work, typename Connection>
using WorkResult = std::conditional_t<std::is_void_v<std::invoke_result_t<Work&, Connection&>>,
                                      Nothing, std::invoke_result_t<Work&, Connection&>>;

/// A store's database, the executor threads that serve its queued calls, and its figures.
/// Each operation of a store is written once, as work on a connection, and runs through one
/// of these calls: now on the calling thread (`read`, `write`), or queued (`read_queued`,
/// `write_queued`: group-committed, per-key ordered, outcome through a Done callback;
/// `exclusive_queued`: the writer connection alone, outside any group transaction).
/// `Database` is a backend as Executor describes it, plus `with_writer(work)`, `close()` and
/// `is_closed()`. Thread-safe.
template <typename Database>
class StoreEngine {
public:
    using Connection = typename Database::Connection;

    /// `open(stats)` opens the database (its connections may count busy waits into `stats`).
    template <typename Open>
    explicit StoreEngine(Open&& open)
        : database_(std::forward<Open>(open)(stats_)), executor_(*database_, 0, 1024, &stats_) {}
    ~StoreEngine() {
        executor_.stop_accepting();
        run_close_hooks();
        executor_.shutdown();
    }
    StoreEngine(const StoreEngine&) = delete;
    StoreEngine& operator=(const StoreEngine&) = delete;

    /// Runs `work(connection)` now on a reader connection; counts it under `operation`.
    template <typename Work>
    auto read(StoreOperation operation, Work&& work) {
        return stats_.measure(operation, [&] { return database_->with_reader(work); });
    }
    /// Runs `work(connection)` now on the writer connection; counts it under `operation`.
    template <typename Work>
    auto write(StoreOperation operation, Work&& work) {
        return stats_.measure(operation, [&] { return database_->with_writer(work); });
    }

    /// Queues `work` on a reader thread (after queued writes of `key`); `done` receives its
    /// result or error. Throws StoreError(Closed) at once on a closed store (`done` is then
    /// never called).
    template <typename Work>
    void read_queued(StoreOperation operation, std::string key, Work work,
                     Done<WorkResult<Work, Connection>> done) {
        submit(operation, std::move(key), std::move(work), std::move(done), Access::Read);
    }
    /// Queues `work` on the writer thread, group-committed with the writes queued beside it;
    /// `done` runs once the transaction committed (or with the error that failed `work`).
    template <typename Work>
    void write_queued(StoreOperation operation, std::string key, Work work,
                      Done<WorkResult<Work, Connection>> done) {
        submit(operation, std::move(key), std::move(work), std::move(done), Access::Write);
    }
    /// Queues `work` on the writer thread with the writer connection to itself, outside any
    /// group transaction (for work that runs its own transaction, or holds the connection
    /// across several calls); writes queued after it wait for it.
    template <typename Work>
    void exclusive_queued(StoreOperation operation, std::string key, Work work,
                          Done<WorkResult<Work, Connection>> done) {
        submit(operation, std::move(key), std::move(work), std::move(done), Access::Exclusive);
    }

    /// Runs `work()` and counts it under `operation` (for work run outside the calls above).
    template <typename Work>
    auto measure(StoreOperation operation, Work&& work) {
        return stats_.measure(operation, std::forward<Work>(work));
    }

    /// Runs `hook` when the engine closes, once it accepts no more work and before queued work
    /// is waited for: for work that would otherwise wait for its owner forever (a session
    /// holding the writer connection).
    void on_close(std::function<void()> hook) {
        std::lock_guard<std::mutex> lock(hooks_mutex_);
        close_hooks_.push_back(std::move(hook));
    }

    /// Stops accepting work, runs the close hooks, waits for queued work, then closes every
    /// connection; later calls throw StoreError(Closed).
    void close() {
        // Refused before the hooks run: work queued while they ran (a session opened by another
        // thread) would come after them, with nothing left to end it.
        executor_.stop_accepting();
        run_close_hooks();
        executor_.shutdown();
        database_->close();
    }
    bool is_closed() const { return database_->is_closed(); }
    /// Operations, errors, busy waits and group commits so far.
    StoreFigures stats() const { return stats_.figures(); }
    Database& database() { return *database_; }

private:
    enum class Access { Read, Write, Exclusive };

    void run_close_hooks() {
        std::vector<std::function<void()>> hooks;
        {
            std::lock_guard<std::mutex> lock(hooks_mutex_);
            hooks.swap(close_hooks_);
        }
        for (auto& hook : hooks) hook();
    }

    template <typename Work, typename Result>
    void submit(StoreOperation operation, std::string key, Work work, Done<Result> done,
                Access access) {
        stats_.measure_submission(operation, [&](StoreStats::Completion completed) {
            auto result = std::make_shared<Result>();
            Job<Connection> job{
                [result, work = std::move(work)](Connection& connection) mutable {
                    if constexpr (std::is_void_v<std::invoke_result_t<Work&, Connection&>>)
                        work(connection);
                    else
                        *result = work(connection);
                },
                [result, completed = std::move(completed),
                 done = std::move(done)](std::exception_ptr error) {
                    completed(error);
                    // A write rolled back with its batch has no result, whatever it computed.
                    done(error ? Result{} : std::move(*result), error);
                }};
            switch (access) {
                case Access::Read:
                    executor_.submit_read(key, std::move(job));
                    break;
                case Access::Write:
                    executor_.submit_write(key, std::move(job));
                    break;
                case Access::Exclusive:
                    executor_.submit_exclusive(key, std::move(job));
                    break;
            }
        });
    }

    std::mutex hooks_mutex_;
    std::vector<std::function<void()>> close_hooks_;
    StoreStats stats_;  // before the database: its connections count busy waits into it
    std::unique_ptr<Database> database_;
    Executor<Database> executor_;  // after the database: stops before it closes
};

}  // namespace asap_native
