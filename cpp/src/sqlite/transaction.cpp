#include "asap_native/sqlite/transaction.hpp"

#include "asap_native/sqlite/connection.hpp"

namespace asap_native::sqlite {

Transaction::Transaction(Connection& connection) : connection_(connection) {
    connection_.execute("BEGIN IMMEDIATE");
}

Transaction::~Transaction() {
    if (!open_) return;
    try {
        connection_.execute("ROLLBACK");
    } catch (...) {
        // SQLite may already have rolled back (e.g. after SQLITE_FULL); nothing left to undo.
    }
}

void Transaction::commit() {
    connection_.execute("COMMIT");
    open_ = false;
}

}  // namespace asap_native::sqlite
