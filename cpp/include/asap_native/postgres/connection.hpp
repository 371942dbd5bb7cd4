// RAII for one libpq connection in pipeline mode: statements are queued and their results read
// in one round trip, every wait bounded.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "asap_native/postgres/params.hpp"
#include "asap_native/postgres/result.hpp"

struct pg_conn;

namespace asap_native::pg {

/// How a store connects.
struct ConnectOptions {
    /// A libpq connection string ("host=... dbname=...") or a postgresql:// URL; TLS
    /// (sslmode, sslrootcert...), authentication and several hosts (target_session_attrs)
    /// are libpq's.
    std::string dsn;
    /// Bounds every wait: connecting, and each statement (the session's statement_timeout);
    /// a connection silent for this long plus two seconds is treated as lost.
    std::chrono::milliseconds timeout{15000};
};

/// A statement every connection of a store prepares once, named by its index.
struct StatementSpec {
    std::string sql;
    std::vector<unsigned> parameter_types;  ///< OIDs (params.hpp), one per parameter
};
using Statements = std::vector<StatementSpec>;

/// Transaction control statements, prepared on every connection.
enum class Control { Begin, Commit, Rollback, Savepoint, RollbackToSavepoint };

/// Called with a statement's result when it arrives (only for a statement that succeeded).
using OnResult = std::function<void(Result&)>;

/// One connection. Not thread-safe: one thread uses it at a time.
///
/// After prepare() it is in pipeline mode for good: send() queues a statement (its bytes go
/// out at once, nothing waits), finish() ends the queue with a sync point and reads every
/// result, so any number of statements costs one round trip. Statements queued without an
/// explicit BEGIN form one implicit transaction, committed at the sync point. A statement
/// that fails makes the server skip the rest of the queue (they report nothing).
///
/// A lost connection (the server went away, or stayed silent past the timeout) throws
/// StoreError(Connection) and leaves the connection broken(): its owner discards it.
class Connection {
public:
    /// Tag of statements that belong to no batch step (control statements, plain calls).
    static constexpr int kNoTag = -1;

    /// Connects within `options.timeout` and sets the session up (statement_timeout, UTF-8).
    /// Throws InvalidArgument for a DSN libpq cannot parse, StoreError(Connection,
    /// Authentication or CantOpen) when it cannot connect.
    explicit Connection(const ConnectOptions& options);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    /// Runs SQL (one or more statements, simple protocol); only before prepare(). Returns the
    /// last statement's result; throws the first failure as a StoreError.
    Result execute(const std::string& sql);

    /// Prepares `statements` and the control statements in one round trip and switches to
    /// pipeline mode. Throws StoreError (e.g. a missing table).
    void prepare(const Statements& statements);

    /// Queues statement `index` of prepare()'s list with `params` (read now, not kept).
    void send(int index, const Params& params, OnResult on_result = {});
    /// Queues a control statement.
    void send(Control control, OnResult on_result = {});
    /// Queues SQL that is not prepared (one statement, no parameters).
    void send_sql(const std::string& sql, OnResult on_result = {});
    /// Ends the queue with a sync point and reads every result; throws the first failure (a
    /// statement's, else a result callback's) once all are read. Nothing queued: no-op.
    void finish();
    /// send() then finish(): the statement's result.
    Result query(int index, const Params& params);

    /// What finish_batch() found: the first statement that failed (its tag and error), and
    /// the errors result callbacks threw (statements that succeeded).
    struct BatchOutcome {
        int failed_tag = kNoTag;
        std::exception_ptr error;
        std::vector<std::pair<int, std::exception_ptr>> callback_errors;
    };
    /// Statements queued from now carry `tag` (a batch step's index, or kNoTag).
    void set_tag(int tag) noexcept { tag_ = tag; }
    /// Statements queued so far (for telling whether a step queued any).
    std::uint64_t sent() const noexcept { return sent_; }
    /// Like finish(), but reports statement failures instead of throwing them. Still throws
    /// StoreError(Connection) when the connection is lost.
    BatchOutcome finish_batch();

    /// True once the connection is lost or in an unknown state.
    bool broken() const noexcept { return broken_; }
    /// True when it can serve another call: not broken, nothing queued, no open transaction.
    bool idle() const noexcept;
    /// For a connection that sat idle: false when the server closed it meanwhile (a restart).
    bool still_open();
    /// Forgets the server connection without closing it (a forked child must not end its
    /// parent's session).
    void abandon() noexcept { conn_ = nullptr; }

private:
    struct Pending {
        int tag = kNoTag;
        OnResult on_result;
        bool is_sync = false;
        bool got_result = false;
    };

    [[noreturn]] void fail(const std::string& message);
    void check_open();
    void wait(short events);
    void consume();
    void flush();
    void read_results(BatchOutcome& outcome);

    pg_conn* conn_ = nullptr;
    std::chrono::milliseconds timeout_;
    std::chrono::milliseconds silence_limit_;
    std::deque<Pending> pending_;
    int tag_ = kNoTag;
    std::uint64_t sent_ = 0;
    bool broken_ = false;
    bool closing_ = false;  // the server said it is ending the session (set by a notice receiver)
    std::vector<std::string> names_;  // statement names: "s0", "s1"...
};

}  // namespace asap_native::pg
