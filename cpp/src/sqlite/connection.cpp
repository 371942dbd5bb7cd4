#include "asap_native/sqlite/connection.hpp"

#include <sqlite3.h>

#include <string>
#include <thread>

#include "asap_native/errors.hpp"
#include "asap_native/sqlite/statement.hpp"

namespace asap_native::sqlite {

void throw_sqlite_error(sqlite3* db, int rc, std::string_view context) {
    int code = rc;
    std::string message;
    if (db != nullptr) {
        const int extended = sqlite3_extended_errcode(db);
        if ((extended & 0xff) == (rc & 0xff)) code = extended;
        message = sqlite3_errmsg(db);
    } else {
        message = sqlite3_errstr(rc);
    }
    throw StoreError(StoreError::kind_for_code(code), code, std::string(context) + ": " + message);
}

// SQLite's own busy handler (sqliteDefaultBusyCallback) with the same back-off, plus a count
// of the calls that had to wait, for stats().
int Connection::on_busy(void* connection, int attempts) {
    static constexpr int kDelays[] = {1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100};
    static constexpr int kTotals[] = {0, 1, 3, 8, 18, 33, 53, 78, 103, 128, 178, 228};
    constexpr int kSteps = sizeof kDelays / sizeof kDelays[0];
    const auto& options = static_cast<Connection*>(connection)->options_;
    const auto timeout = static_cast<std::int64_t>(options.busy_timeout.count());
    std::int64_t delay = attempts < kSteps ? kDelays[attempts] : kDelays[kSteps - 1];
    const std::int64_t prior = attempts < kSteps
                                   ? kTotals[attempts]
                                   : kTotals[kSteps - 1] + delay * (attempts - (kSteps - 1));
    if (prior + delay > timeout) {
        delay = timeout - prior;
        if (delay <= 0) return 0;  // give up: the caller gets SQLITE_BUSY
    }
    if (attempts == 0 && options.busy_wait_counter != nullptr)
        options.busy_wait_counter->fetch_add(1, std::memory_order_relaxed);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay));
    return 1;
}

Connection::Connection(const std::string& path, const ConnectionOptions& options)
    : options_(options) {
    // NOMUTEX: every connection is used by one thread at a time, guarded by Database.
    const int flags =
        (options.read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE) |
        SQLITE_OPEN_NOMUTEX;
    const int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
        const std::string message = db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc);
        const int code = db_ ? sqlite3_extended_errcode(db_) : rc;
        sqlite3_close_v2(db_);
        db_ = nullptr;
        throw StoreError(StoreError::kind_for_code(code), code,
                         "cannot open database '" + path + "': " + message);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_handler(db_, &Connection::on_busy, this);
    try {
        execute(options.durability == Durability::Full ? "PRAGMA synchronous=FULL"
                                                       : "PRAGMA synchronous=NORMAL");
    } catch (...) {
        sqlite3_close_v2(db_);
        db_ = nullptr;
        throw;
    }
}

Connection::~Connection() {
    // Statements are finalized before the connection closes (a user statement still held
    // elsewhere keeps the connection open as a zombie until it goes: sqlite3_close_v2).
    user_index_.clear();
    user_statements_.clear();
    statements_.clear();
    sqlite3_close_v2(db_);
}

void Connection::execute(std::string_view sql) {
    const std::string owned(sql);
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, owned.c_str(), nullptr, nullptr, &error);
    sqlite3_free(error);
    if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, "execute");
}

Statement& Connection::statement(const std::string& sql) {
    auto found = statements_.find(sql);
    if (found != statements_.end()) return *found->second;
    auto inserted = statements_.emplace(sql, std::make_unique<Statement>(db_, sql));
    return *inserted.first->second;
}

std::shared_ptr<Statement> Connection::user_statement(const std::string& sql) {
    auto found = user_index_.find(sql);
    if (found != user_index_.end()) {
        user_statements_.splice(user_statements_.begin(), user_statements_, found->second);
        return found->second->second;
    }
    auto statement = std::make_shared<Statement>(db_, sql);
    user_statements_.emplace_front(sql, statement);
    user_index_.emplace(user_statements_.front().first, user_statements_.begin());
    if (user_statements_.size() > kUserStatements) {
        user_index_.erase(user_statements_.back().first);
        user_statements_.pop_back();
    }
    return statement;
}

std::int64_t Connection::last_insert_rowid() const { return sqlite3_last_insert_rowid(db_); }

void Connection::set_last_insert_rowid(std::int64_t rowid) {
    sqlite3_set_last_insert_rowid(db_, rowid);
}

bool Connection::in_transaction() const { return sqlite3_get_autocommit(db_) == 0; }

std::int64_t Connection::changes() const { return sqlite3_changes64(db_); }

bool Connection::is_read_only() const { return sqlite3_db_readonly(db_, "main") == 1; }

}  // namespace asap_native::sqlite
