// A database file shared by one writer connection and a pool of reader connections.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "asap_native/batch_step.hpp"
#include "asap_native/connection_pool.hpp"
#include "asap_native/sqlite/connection.hpp"

namespace asap_native::sqlite {

/// Owns the connections of one store: one writer, used under a mutex, and up to
/// `max_readers` reader connections opened on demand, so reads never queue behind writes
/// (WAL lets them run side by side). A ":memory:" database has one connection for both.
/// Thread-safe. In a child process after fork() it reopens its connections on first use,
/// never touching the ones inherited from the parent.
class Database {
public:
    using Connection = sqlite::Connection;
    /// Hook run on every new connection (to register SQL functions) before use.
    using ConnectionSetup = std::function<void(Connection&)>;

    /// Validates and opens `path`, applies WAL and durability, then runs `schema_sql` on the
    /// writer. With `options.read_only` the file must exist and nothing is written to it (no
    /// WAL switch, no schema): every connection, the "writer" too, only reads. `max_readers` 0
    /// gives a connection per executor reader thread and as many for sync callers. Throws
    /// InvalidArgument for a bad path and StoreError for SQLite failures.
    Database(std::string path, ConnectionOptions options, const std::string& schema_sql,
             ConnectionSetup setup = {}, int max_readers = 0);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    /// Runs `work` with exclusive use of the writer connection.
    template <typename Work>
    auto with_writer(Work&& work) {
        State& state = current_state();
        std::lock_guard<std::mutex> lock(state.writer_mutex);
        ensure_open(state);
        return work(*state.writer);
    }

    /// Runs `work` with a reader connection (the writer for ":memory:").
    template <typename Work>
    auto with_reader(Work&& work) {
        if (in_memory_) return with_writer(std::forward<Work>(work));
        Pool::Lease lease = lease_reader();
        return work(lease.connection());
    }

    /// Group commit: runs every step in one write transaction, each inside its own savepoint,
    /// so a step that throws is rolled back alone. Returns one entry per step: null on success,
    /// else the step's exception. When the transaction itself cannot begin or commit, every
    /// step gets that error and nothing is written.
    std::vector<std::exception_ptr> run_batch(
        const std::vector<const BatchStep<Connection>*>& steps);

    /// Closes every connection once in-flight calls finish; later calls throw StoreError(Closed).
    void close();
    /// True once close() has run.
    bool is_closed() const;
    /// The path the database was opened with.
    const std::string& path() const { return path_; }
    /// True for ":memory:".
    bool in_memory() const { return in_memory_; }

    /// ForkGuard hooks, called around fork() with the registry locked: notes whether a
    /// connection is in use (holding the locks of idle databases until after the fork).
    void before_fork();
    /// True when a connection was in use by another thread at the last fork().
    bool was_busy_at_fork() const { return busy_at_fork_; }
    /// In the parent, releases what before_fork() took. In the child, closes the inherited
    /// connections of an idle database (they reopen on first use), or marks the database
    /// unusable when it, or another database on the same file (`file_busy`), was in use.
    void after_fork(bool in_child, bool file_busy);

private:
    // Everything a fork() child must not reuse: locks and connections.
    using Pool = ConnectionPool<Connection>;

    struct State {
        std::uint64_t generation = 0;  // process_generation() when created
        std::mutex writer_mutex;
        std::unique_ptr<Connection> writer;
        Pool readers;
    };

    Pool::Lease lease_reader();
    std::unique_ptr<Connection> open_connection() const;
    // The live state, replaced (the old one deliberately leaked) in a forked child.
    State& current_state();
    void ensure_open(const State& state) const;

    std::string path_;
    ConnectionOptions options_;
    ConnectionSetup setup_;
    bool in_memory_;
    int max_readers_;
    std::atomic<bool> closed_{false};
    std::atomic<State*> state_{nullptr};
    bool fork_locked_writer_ = false;
    bool fork_locked_readers_ = false;
    bool busy_at_fork_ = false;
    std::atomic<bool> unusable_in_child_{false};
};

}  // namespace asap_native::sqlite
