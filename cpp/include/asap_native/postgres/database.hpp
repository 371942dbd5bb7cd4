// The connections of one PostgreSQL store: a pool for calls, one connection for group commits.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <type_traits>
#include <vector>

#include "asap_native/batch_step.hpp"
#include "asap_native/connection_pool.hpp"
#include "asap_native/postgres/connection.hpp"
#include "asap_native/postgres/schema.hpp"

namespace asap_native::pg {

/// Owns the connections of one store and satisfies what StoreEngine and Executor need of a
/// database: `with_reader`, `with_writer`, `run_batch`, `close`, `is_closed`. Thread-safe.
///
/// - Calls (`with_reader` / `with_writer`) lease a pooled connection (up to `max_connections`,
///   opened on demand). What a `with_writer` work queues runs as one implicit transaction,
///   committed before `with_writer` returns.
/// - Group commits (`run_batch`) run on a connection of their own, used by the executor's one
///   writer thread.
/// - A connection that was lost is dropped; the next call opens a new one (the store
///   reconnects by itself). An idle connection the server closed meanwhile (a restart) is
///   noticed before use and replaced.
/// - In a forked child, the parent's connections are left alone (never used, never closed:
///   closing would end the parent's sessions); the child opens its own.
class Database {
public:
    using Connection = pg::Connection;

    /// Connects (bounded by options.timeout), migrates `schema` and prepares `statements`.
    /// `max_connections` 0: one per executor reader thread and as many for sync callers.
    /// Throws InvalidArgument (bad DSN) or StoreError.
    Database(ConnectOptions options, Schema schema, Statements statements, int max_connections = 0);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    /// Runs `work(connection)` on a pooled connection; what it queued and did not finish is
    /// finished (and its failure thrown) before this returns.
    template <typename Work>
    auto with_reader(Work&& work) {
        Pool::Lease lease = lease_connection();
        if constexpr (std::is_void_v<std::invoke_result_t<Work&, Connection&>>) {
            work(lease.connection());
            lease.connection().finish();
        } else {
            auto result = work(lease.connection());
            lease.connection().finish();
            return result;
        }
    }
    /// As with_reader: the statements `work` queues commit together before this returns.
    template <typename Work>
    auto with_writer(Work&& work) {
        return with_reader(std::forward<Work>(work));
    }

    /// Group commit: every step in one transaction, pipelined (one round trip when nothing
    /// fails). A step that fails on its own values (it throws, or the server reports a data
    /// exception or a constraint violation: SQLSTATE classes 22 and 23) fails alone: the
    /// transaction is redone without it, its steps isolated by savepoints from then on, so each
    /// further failure costs one more round trip and no step runs more than twice. Any other
    /// failure (statement timeout, lock, read-only server, lost connection...) fails every step
    /// not already failed on its own, at once. Returns one entry per step: null once committed,
    /// else its error. After a lost connection, whether the COMMIT reached the server is unknown.
    std::vector<std::exception_ptr> run_batch(
        const std::vector<const BatchStep<Connection>*>& steps);

    /// Waits for leased connections to come back, then closes every connection; later calls
    /// throw StoreError(Closed).
    void close();
    bool is_closed() const { return closed_.load(); }

    /// Connections currently open (pooled, leased and the group-commit one), for tests.
    int open_connections();
    /// Connections opened so far (reconnections included), for tests and figures.
    std::uint64_t connections_opened() const { return opened_.load(); }
    const ConnectOptions& options() const { return options_; }

private:
    using Pool = ConnectionPool<Connection>;

    struct State {
        std::uint64_t generation = 0;
        Pool pool;  // connections for calls
        std::mutex batch_mutex;
        std::unique_ptr<Connection> batch;  // the group-commit connection
    };

    Pool::Lease lease_connection();
    std::unique_ptr<Connection> open_connection();
    State& current_state();
    void run_rounds(Connection& connection, const std::vector<const BatchStep<Connection>*>& steps,
                    std::vector<std::exception_ptr>& errors);

    ConnectOptions options_;
    Schema schema_;
    Statements statements_;
    int max_connections_;
    std::atomic<bool> closed_{false};
    std::atomic<bool> migrated_{false};
    std::atomic<std::uint64_t> opened_{0};
    std::atomic<State*> state_{nullptr};
};

}  // namespace asap_native::pg
