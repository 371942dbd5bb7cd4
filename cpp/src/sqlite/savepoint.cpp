#include "asap_native/sqlite/savepoint.hpp"

#include "asap_native/sqlite/connection.hpp"
#include "asap_native/sqlite/statement.hpp"

namespace asap_native::sqlite {

Savepoint::Savepoint(Connection& connection, const char* name)
    : connection_(connection),
      release_sql_(std::string("RELEASE ") + name),
      rollback_sql_(std::string("ROLLBACK TO ") + name) {
    Statement::Use(connection_.statement(std::string("SAVEPOINT ") + name))->run();
}

Savepoint::~Savepoint() {
    if (!open_) return;
    try {
        rollback();
    } catch (...) {
        // The transaction itself is gone (SQLite rolled it back); nothing is left to undo.
    }
}

void Savepoint::release() {
    Statement::Use(connection_.statement(release_sql_))->run();
    open_ = false;
}

void Savepoint::rollback() {
    open_ = false;
    Statement::Use(connection_.statement(rollback_sql_))->run();
    Statement::Use(connection_.statement(release_sql_))->run();
}

}  // namespace asap_native::sqlite
