// A SQLite database run by SQL its caller writes: the engine under asap-protocol's
// AsyncSqliteRepository and the stores built on it.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <variant>
#include <vector>

#include "asap_native/queued_call.hpp"
#include "asap_native/sql.hpp"
#include "asap_native/sqlite/connection.hpp"
#include "asap_native/sqlite_engine.hpp"

namespace asap_native {

class SqlSession;

/// A SQLite file (or ":memory:") whose operations are SQL statements with parameters, on the
/// same engine as the stores: one writer connection whose queued statements are
/// group-committed (each in its own savepoint, so one that fails fails alone), reader
/// connections for queries, and sessions that hold the writer connection across several
/// calls for a transaction. Thread-safe.
class SqliteRepository {
public:
    /// Opens or creates the database (WAL, busy timeout, durability from `options`).
    explicit SqliteRepository(const std::string& path, sqlite::ConnectionOptions options = {});
    /// SQL on an engine other stores of the file use too (their connections and threads).
    explicit SqliteRepository(std::shared_ptr<SqliteEngine> engine);
    ~SqliteRepository();
    SqliteRepository(const SqliteRepository&) = delete;
    SqliteRepository& operator=(const SqliteRepository&) = delete;

    /// Runs a statement now on the writer connection, committed on its own.
    SqlResult execute(const std::string& sql, const SqlParameters& parameters);
    /// Runs a statement now on a reader connection.
    SqlResult fetch(const std::string& sql, const SqlParameters& parameters);

    /// Queues a statement on the writer thread, committed with the writes queued beside it;
    /// `done` runs after the commit.
    void execute_queued(std::string sql, SqlParameters parameters, Done<SqlResult> done);
    /// Queues a statement on a reader thread.
    void fetch_queued(std::string sql, SqlParameters parameters, Done<SqlResult> done);
    /// Queues a script (statements separated by semicolons, no parameters) on the writer
    /// connection, alone and in autocommit mode: its own BEGIN/COMMIT, if any, apply.
    void script_queued(std::string script, Done<Nothing> done);

    /// A session: the writer connection for its caller alone, from when the writer thread
    /// reaches it until end_queued(). Its statements see its own uncommitted writes; writes
    /// queued meanwhile wait; queries on reader connections go on. `begin` ("BEGIN
    /// IMMEDIATE"...; empty for none) runs first: if it fails, so does every command queued,
    /// with its error, and the session is over.
    std::shared_ptr<SqlSession> open_session(std::string begin);

    StoreFigures stats() const { return engine_->stats(); }
    /// Ends open sessions (rolling back what they did not commit), waits for queued work,
    /// then closes every connection; later calls throw StoreError(Closed).
    void close() { engine_->close(); }
    bool is_closed() const { return engine_->is_closed(); }
    /// The engine this repository runs on.
    const std::shared_ptr<SqliteEngine>& engine() const { return engine_; }

private:
    // The sessions open on the engine: ended when it closes (they would wait forever).
    struct Sessions {
        std::mutex mutex;
        std::vector<std::weak_ptr<SqlSession>> open;
        void add(const std::shared_ptr<SqlSession>& session);
        void abandon_all();
    };

    std::shared_ptr<SqliteEngine> engine_;
    std::shared_ptr<Sessions> sessions_;
};

/// Exclusive use of a repository's writer connection across several calls. Commands run in
/// the order they are queued; each reports through its own Done. Thread-safe.
class SqlSession : public std::enable_shared_from_this<SqlSession> {
public:
    /// Queues a statement on the session's connection.
    void run_queued(std::string sql, SqlParameters parameters, Done<SqlResult> done);
    /// Queues a script on the session's connection.
    void script_queued(std::string script, Done<Nothing> done);
    /// Ends the session after the commands queued before: COMMIT (or ROLLBACK) any open
    /// transaction, then give the connection back. A failed COMMIT is rolled back and reported.
    /// Commands queued afterwards fail (StoreError(Closed), or what ended the session early);
    /// ending an ended session does nothing.
    void end_queued(bool commit, Done<Nothing> done);
    /// Ends the session with a rollback, from a finalizer or close(): nobody waits for it.
    void abandon() noexcept;
    /// True while the connection has a transaction open (after the last command run).
    bool in_transaction() const;

private:
    friend class SqliteRepository;

    struct Statement {
        std::string sql;
        SqlParameters parameters;
        Done<SqlResult> done;
    };
    struct Script {
        std::string script;
        Done<Nothing> done;
    };
    struct End {
        bool commit;
        Done<Nothing> done;
        bool by_owner = true;  // false for abandon(): nobody learns anything from it
    };
    using Command = std::variant<Statement, Script, End>;

    SqlSession(SqliteEngine& engine, std::string begin)
        : engine_(engine), begin_(std::move(begin)) {}
    void push(Command command);
    // Runs on the writer thread until the session ends.
    void serve(sqlite::Connection& connection);
    // The job that served the session ended (or never started: `error`).
    void finished(const std::exception_ptr& error) noexcept;
    // Answers a command the session will not run.
    void refuse(Command& command, const std::exception_ptr& failure) noexcept;

    SqliteEngine& engine_;  // outlives serve(): closing the engine ends the session first
    const std::string begin_;
    mutable std::mutex mutex_;
    std::condition_variable command_ready_;
    std::deque<Command> commands_;
    bool ending_ = false;  // an End is queued: later commands are refused
    bool over_ = false;    // serve() returned, or never will
    bool in_transaction_ = false;
    std::exception_ptr failure_;  // why serving ended early, for commands queued after
    bool owner_told_ = false;     // the owner learned how it ended: its End ran, or was refused
};

}  // namespace asap_native
