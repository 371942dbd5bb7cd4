#include "asap_native/sqlite_repository.hpp"

#include <algorithm>

#include "asap_native/errors.hpp"
#include "asap_native/sqlite/sql_runner.hpp"

namespace asap_native {
namespace {

using sqlite::Connection;

// Writes and sessions share a key, so they run in the order they were queued; queries have
// another, so they never wait behind writes (their callers await what they wrote first).
const std::string kWriteKey = "write";
const std::string kReadKey = "read";

// Runs `work` on a connection in autocommit mode and gives the connection back in autocommit
// mode: what `work` left open is committed (`commit`) or rolled back, and rolled back when
// `work` (or that COMMIT) fails, as closing asap-protocol's connection would. The connections
// are shared: a transaction left open would fail every later BEGIN on the writer, and pin a
// reader to an old snapshot.
template <typename Work>
auto in_autocommit(Connection& connection, bool commit, Work&& work) {
    try {
        auto result = work();
        if (connection.in_transaction()) connection.execute(commit ? "COMMIT" : "ROLLBACK");
        return result;
    } catch (...) {
        try {
            if (connection.in_transaction()) connection.execute("ROLLBACK");
        } catch (...) {
            // SQLite rolled back already (after SQLITE_FULL, say): the error to report is
            // the one that got us here.
        }
        throw;
    }
}

// A query gives its rows but keeps no change, and leaves its reader as it found it: a DML
// statement (DELETE ... RETURNING through fetch_all) changes nothing, as asap-protocol's
// fetch_* close their connection without committing; a BEGIN, or a query that failed inside
// one, is rolled back, or the reader would serve every later query from that transaction.
SqlResult fetch_on(Connection& connection, const std::string& sql,
                   const SqlParameters& parameters) {
    if (is_dml(sql)) connection.execute("BEGIN");
    return in_autocommit(connection, /*commit=*/false,
                         [&] { return sqlite::run_sql(connection, sql, parameters); });
}

// A statement other than INSERT/UPDATE/DELETE/REPLACE (DDL, PRAGMA, VACUUM, BEGIN...) runs as
// Python's sqlite3 runs it: in autocommit mode, not inside a group transaction; then, like
// asap-protocol's execute(), whatever it left open is committed.
SqlResult execute_alone(Connection& connection, const std::string& sql,
                        const SqlParameters& parameters) {
    return in_autocommit(connection, /*commit=*/true,
                         [&] { return sqlite::run_sql(connection, sql, parameters); });
}

}  // namespace

SqliteRepository::SqliteRepository(const std::string& path, sqlite::ConnectionOptions options)
    : SqliteRepository(open_sqlite_engine(path, options)) {}

SqliteRepository::SqliteRepository(std::shared_ptr<SqliteEngine> engine)
    : engine_(std::move(engine)), sessions_(std::make_shared<Sessions>()) {
    engine_->on_close([sessions = sessions_] { sessions->abandon_all(); });
}

// The engine lives on while other stores share it; its close hook ends this repository's
// sessions whenever it closes.
SqliteRepository::~SqliteRepository() = default;

void SqliteRepository::Sessions::add(const std::shared_ptr<SqlSession>& session) {
    std::lock_guard<std::mutex> lock(mutex);
    open.erase(
        std::remove_if(open.begin(), open.end(), [](const auto& held) { return held.expired(); }),
        open.end());
    open.push_back(session);
}

void SqliteRepository::Sessions::abandon_all() {
    std::vector<std::shared_ptr<SqlSession>> live;
    {
        std::lock_guard<std::mutex> lock(mutex);
        for (auto& held : open)
            if (auto session = held.lock()) live.push_back(std::move(session));
        open.clear();
    }
    for (auto& session : live) session->abandon();
}

SqlResult SqliteRepository::execute(const std::string& sql, const SqlParameters& parameters) {
    return engine_->write(StoreOperation::Execute,
                          [&](Connection& c) { return execute_alone(c, sql, parameters); });
}

SqlResult SqliteRepository::fetch(const std::string& sql, const SqlParameters& parameters) {
    return engine_->read(StoreOperation::Fetch,
                         [&](Connection& c) { return fetch_on(c, sql, parameters); });
}

void SqliteRepository::execute_queued(std::string sql, SqlParameters parameters,
                                      Done<SqlResult> done) {
    if (is_dml(sql)) {
        engine_->write_queued(
            StoreOperation::Execute, kWriteKey,
            [sql = std::move(sql), parameters = std::move(parameters)](Connection& c) {
                return sqlite::run_sql(c, sql, parameters);
            },
            std::move(done));
    } else {
        engine_->exclusive_queued(
            StoreOperation::Execute, kWriteKey,
            [sql = std::move(sql), parameters = std::move(parameters)](Connection& c) {
                return execute_alone(c, sql, parameters);
            },
            std::move(done));
    }
}

void SqliteRepository::fetch_queued(std::string sql, SqlParameters parameters,
                                    Done<SqlResult> done) {
    engine_->read_queued(
        StoreOperation::Fetch, kReadKey,
        [sql = std::move(sql), parameters = std::move(parameters)](Connection& c) {
            return fetch_on(c, sql, parameters);
        },
        std::move(done));
}

void SqliteRepository::script_queued(std::string script, Done<Nothing> done) {
    engine_->exclusive_queued(
        StoreOperation::Script, kWriteKey,
        [script = std::move(script)](Connection& c) {
            in_autocommit(c, /*commit=*/true, [&] {
                sqlite::run_script(c, script);
                return Nothing{};
            });
        },
        std::move(done));
}

std::shared_ptr<SqlSession> SqliteRepository::open_session(std::string begin) {
    std::shared_ptr<SqlSession> session(new SqlSession(*engine_, std::move(begin)));
    sessions_->add(session);
    engine_->exclusive_queued(
        StoreOperation::Transaction, kWriteKey, [session](Connection& c) { session->serve(c); },
        [session](Nothing, std::exception_ptr error) { session->finished(error); });
    return session;
}

void SqlSession::run_queued(std::string sql, SqlParameters parameters, Done<SqlResult> done) {
    push(Statement{std::move(sql), std::move(parameters), std::move(done)});
}

void SqlSession::script_queued(std::string script, Done<Nothing> done) {
    push(Script{std::move(script), std::move(done)});
}

void SqlSession::end_queued(bool commit, Done<Nothing> done) { push(End{commit, std::move(done)}); }

void SqlSession::abandon() noexcept {
    try {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            if (ending_ || over_) return;
        }
        push(End{false, [](Nothing, std::exception_ptr) {}, /*by_owner=*/false});
    } catch (...) {
        // Out of memory queueing the end: the session stays until its store is closed.
    }
}

bool SqlSession::in_transaction() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return in_transaction_;
}

void SqlSession::push(Command command) {
    std::exception_ptr failure;
    {
        std::unique_lock<std::mutex> lock(mutex_);
        if (!ending_ && !over_) {
            if (std::holds_alternative<End>(command)) ending_ = true;
            commands_.push_back(std::move(command));
            lock.unlock();
            command_ready_.notify_one();
            return;
        }
        failure = failure_ ? failure_ : std::make_exception_ptr(store_closed_error());
    }
    refuse(command, failure);
}

void SqlSession::refuse(Command& command, const std::exception_ptr& failure) noexcept {
    // A statement fails with what ended the session (its BEGIN failed, its store closed, or
    // its owner ended it). An End reports that only if its owner has not learned it yet (from
    // a statement, or an End that ran): a caller that only began and ended learns of a failed
    // BEGIN there, and ending an ended session does nothing.
    if (auto* end = std::get_if<End>(&command); end != nullptr && !end->by_owner) {
        end->done(Nothing{}, nullptr);
        return;
    }
    bool report;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        report = !std::holds_alternative<End>(command) || !owner_told_;
        owner_told_ = true;
    }
    std::visit(
        [&](auto& refused) {
            using Kind = std::decay_t<decltype(refused)>;
            if constexpr (std::is_same_v<Kind, Statement>)
                refused.done(SqlResult{}, failure);
            else
                refused.done(Nothing{}, report ? failure : nullptr);
        },
        command);
}

void SqlSession::serve(Connection& connection) {
    if (!begin_.empty()) {
        // If it throws, finished() hands its error to every command queued, and to later ones.
        connection.execute(begin_);
        std::lock_guard<std::mutex> lock(mutex_);
        in_transaction_ = connection.in_transaction();
    }
    for (;;) {
        Command command;
        {
            std::unique_lock<std::mutex> lock(mutex_);
            command_ready_.wait(lock, [&] { return !commands_.empty(); });
            command = std::move(commands_.front());
            commands_.pop_front();
        }
        std::exception_ptr error;
        if (auto* statement = std::get_if<Statement>(&command)) {
            SqlResult result;
            try {
                result = engine_.measure(StoreOperation::Execute, [&] {
                    return sqlite::run_sql(connection, statement->sql, statement->parameters);
                });
            } catch (...) {
                error = std::current_exception();
            }
            {
                std::lock_guard<std::mutex> lock(mutex_);
                in_transaction_ = connection.in_transaction();
            }
            statement->done(std::move(result), error);
        } else if (auto* script = std::get_if<Script>(&command)) {
            try {
                engine_.measure(StoreOperation::Script, [&] {
                    // As Python's executescript: what is pending is committed first.
                    if (connection.in_transaction()) connection.execute("COMMIT");
                    sqlite::run_script(connection, script->script);
                });
            } catch (...) {
                error = std::current_exception();
            }
            {
                std::lock_guard<std::mutex> lock(mutex_);
                in_transaction_ = connection.in_transaction();
            }
            script->done(Nothing{}, error);
        } else {
            auto& end = std::get<End>(command);
            if (connection.in_transaction()) {
                try {
                    connection.execute(end.commit ? "COMMIT" : "ROLLBACK");
                } catch (...) {
                    error = std::current_exception();
                    // A COMMIT that failed (busy, disk full) leaves the transaction open: undo
                    // it, so the connection goes back clean.
                    try {
                        if (connection.in_transaction()) connection.execute("ROLLBACK");
                    } catch (...) {
                    }
                }
            }
            {
                std::lock_guard<std::mutex> lock(mutex_);
                in_transaction_ = false;
                over_ = true;
                if (end.by_owner) owner_told_ = true;
            }
            end.done(Nothing{}, error);
            return;
        }
    }
}

void SqlSession::finished(const std::exception_ptr& error) noexcept {
    std::deque<Command> left;
    std::exception_ptr failure;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        over_ = true;
        ending_ = true;
        failure_ = error;
        failure = error ? error : std::make_exception_ptr(store_closed_error());
        left.swap(commands_);
    }
    // Commands are left only when serving failed or never began (BEGIN failed, the store
    // closed): each gets that error.
    for (auto& command : left) refuse(command, failure);
}

}  // namespace asap_native
