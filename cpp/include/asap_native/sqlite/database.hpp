// A database file shared by one writer connection and a pool of reader connections.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "asap_native/sqlite/connection.hpp"

namespace asap_native::sqlite {

/// Owns the connections of one store: one writer, used under a mutex, and up to
/// `max_readers` reader connections opened on demand, so reads never queue behind writes
/// (WAL lets them run side by side). A ":memory:" database has one connection for both.
/// Thread-safe.
class Database {
public:
    /// Hook run on every new connection (to register SQL functions) before use.
    using ConnectionSetup = std::function<void(Connection&)>;

    /// Validates and opens `path`, applies WAL and durability, then runs `schema_sql` on the
    /// writer. Throws InvalidArgument for a bad path and StoreError for SQLite failures.
    Database(std::string path, ConnectionOptions options, const std::string& schema_sql,
             ConnectionSetup setup = {}, int max_readers = 0);
    ~Database();
    Database(const Database&) = delete;
    Database& operator=(const Database&) = delete;

    /// Runs `work` with exclusive use of the writer connection.
    template <typename Work>
    auto with_writer(Work&& work) {
        std::lock_guard<std::mutex> lock(writer_mutex_);
        ensure_open();
        return work(*writer_);
    }

    /// Runs `work` with a reader connection (the writer for ":memory:").
    template <typename Work>
    auto with_reader(Work&& work) {
        if (in_memory_) return with_writer(std::forward<Work>(work));
        ReaderLease lease(*this);
        return work(lease.connection());
    }

    /// Closes every connection once in-flight calls finish; later calls throw StoreError(Closed).
    void close();
    /// True once close() has run.
    bool is_closed() const;
    /// The path the database was opened with.
    const std::string& path() const { return path_; }
    /// True for ":memory:".
    bool in_memory() const { return in_memory_; }

private:
    class ReaderLease {
    public:
        explicit ReaderLease(Database& database);
        ~ReaderLease();
        Connection& connection() { return *connection_; }

    private:
        Database& database_;
        std::unique_ptr<Connection> connection_;
    };

    std::unique_ptr<Connection> open_connection() const;
    // Throws when closed; after fork() in the child, reopens the connections first.
    // Call with writer_mutex_ held.
    void ensure_open();
    void reopen_after_fork();

    std::string path_;
    ConnectionOptions options_;
    ConnectionSetup setup_;
    bool in_memory_;
    int max_readers_;
    pid_t owner_pid_;
    std::atomic<bool> closed_{false};

    std::mutex writer_mutex_;
    std::unique_ptr<Connection> writer_;

    mutable std::mutex readers_mutex_;
    std::condition_variable reader_returned_;
    std::vector<std::unique_ptr<Connection>> idle_readers_;
    int open_readers_ = 0;
};

}  // namespace asap_native::sqlite
