// RAII wrapper for one SQLite database connection.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

struct sqlite3;

namespace asap_native::sqlite {

class Statement;

/// How hard SQLite works to make a commit survive a power loss.
enum class Durability {
    Normal,  ///< PRAGMA synchronous=NORMAL: a commit survives a crash of the process.
    Full,    ///< PRAGMA synchronous=FULL: a commit also survives an OS crash or power loss.
};

/// Settings applied to every connection a store opens.
struct ConnectionOptions {
    Durability durability = Durability::Normal;
    std::chrono::milliseconds busy_timeout{15000};
    /// Incremented each time a call starts waiting for another connection's lock (may be null).
    std::atomic<std::uint64_t>* busy_wait_counter = nullptr;
    /// Open an existing database for reading only (nothing is created or written).
    bool read_only = false;
};

/// An open connection, closed on destruction. Not thread-safe: one thread uses it at a time.
class Connection {
public:
    /// Opens (creating if needed) the database at `path`; ":memory:" opens a private in-memory one.
    Connection(const std::string& path, const ConnectionOptions& options);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// Runs one or more SQL statements that return no rows.
    void execute(std::string_view sql);
    /// Returns a cached prepared statement for `sql`, preparing it on first use. For the
    /// library's own statements: they stay prepared for the connection's life.
    Statement& statement(const std::string& sql);
    /// A prepared statement for SQL from outside the library, from a cache of the most
    /// recently used ones (bounded, as Python's sqlite3 bounds its own). Shared: a statement
    /// dropped from the cache lives on for as long as a caller holds it.
    std::shared_ptr<Statement> user_statement(const std::string& sql);
    /// sqlite3_last_insert_rowid(): the rowid of the latest successful INSERT.
    std::int64_t last_insert_rowid() const;
    /// sqlite3_set_last_insert_rowid(): what last_insert_rowid() reports until the next INSERT.
    void set_last_insert_rowid(std::int64_t rowid);
    /// True while a transaction is open (sqlite3_get_autocommit() is 0).
    bool in_transaction() const;
    /// Rows changed by the most recent INSERT, UPDATE or DELETE.
    std::int64_t changes() const;
    /// True when SQLite opened the database read-only (e.g. the file is not writable).
    bool is_read_only() const;
    /// How long a call waits for another connection's lock before failing with SQLITE_BUSY.
    std::chrono::milliseconds busy_timeout() const { return options_.busy_timeout; }
    /// The raw handle, for registering functions.
    sqlite3* handle() const { return db_; }

private:
    static int on_busy(void* connection, int attempts);

    static constexpr std::size_t kUserStatements = 128;

    sqlite3* db_ = nullptr;
    ConnectionOptions options_;
    std::unordered_map<std::string, std::unique_ptr<Statement>> statements_;
    // Most recently used first.
    std::list<std::pair<std::string, std::shared_ptr<Statement>>> user_statements_;
    std::unordered_map<std::string_view, decltype(user_statements_)::iterator> user_index_;
};

/// Throws the StoreError that matches result code `rc` on connection `db` (never returns).
[[noreturn]] void throw_sqlite_error(sqlite3* db, int rc, std::string_view context);

}  // namespace asap_native::sqlite
