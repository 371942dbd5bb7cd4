// RAII savepoint: a step inside a transaction that can be undone alone.
#pragma once

#include <string>

namespace asap_native::sqlite {

class Connection;

/// SAVEPOINT on construction. release() keeps what was done since; rollback() undoes it. If
/// neither ran (an exception is on its way out), the destructor undoes it.
class Savepoint {
public:
    /// `name` must be a plain SQL identifier.
    Savepoint(Connection& connection, const char* name);
    ~Savepoint();
    Savepoint(const Savepoint&) = delete;
    Savepoint& operator=(const Savepoint&) = delete;

    /// Keeps the work done since the savepoint (RELEASE).
    void release();
    /// Undoes the work done since the savepoint (ROLLBACK TO, then RELEASE). Throws if SQLite
    /// cannot, which means the enclosing transaction is lost too.
    void rollback();

private:
    Connection& connection_;
    std::string release_sql_;
    std::string rollback_sql_;
    bool open_ = true;
};

}  // namespace asap_native::sqlite
