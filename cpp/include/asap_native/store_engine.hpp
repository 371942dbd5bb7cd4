// What every database-backed store runs on, and the one path its operations take.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>

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
/// of four calls: now on the calling thread (`read`, `write`), or queued (`read_queued`,
/// `write_queued`: group-committed, per-key ordered, outcome through a Done callback).
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
    ~StoreEngine() { executor_.shutdown(); }
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
        submit(operation, std::move(key), std::move(work), std::move(done), false);
    }
    /// Queues `work` on the writer thread, group-committed with the writes queued beside it;
    /// `done` runs once the transaction committed (or with the error that failed `work`).
    template <typename Work>
    void write_queued(StoreOperation operation, std::string key, Work work,
                      Done<WorkResult<Work, Connection>> done) {
        submit(operation, std::move(key), std::move(work), std::move(done), true);
    }

    /// Waits for queued work, then closes every connection; later calls throw StoreError(Closed).
    void close() {
        executor_.shutdown();
        database_->close();
    }
    bool is_closed() const { return database_->is_closed(); }
    /// Operations, errors, busy waits and group commits so far.
    StoreFigures stats() const { return stats_.figures(); }
    Database& database() { return *database_; }

private:
    template <typename Work, typename Result>
    void submit(StoreOperation operation, std::string key, Work work, Done<Result> done,
                bool is_write) {
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
            if (is_write)
                executor_.submit_write(key, std::move(job));
            else
                executor_.submit_read(key, std::move(job));
        });
    }

    StoreStats stats_;  // first: the connections count busy waits into it
    std::unique_ptr<Database> database_;
    Executor<Database> executor_;  // after the database: stops before it closes
};

}  // namespace asap_native
