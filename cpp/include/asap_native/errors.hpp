// Exceptions thrown by the asap-native core.
#pragma once

#include <stdexcept>
#include <string>
#include <utility>

namespace asap_native {

/// Caller passed a value the store cannot accept (empty id, version < 1, bad path...).
class InvalidArgument : public std::invalid_argument {
public:
    using std::invalid_argument::invalid_argument;
};

/// SQL that cannot run as given: more than one statement, or parameters that do not match
/// its placeholders (what Python's sqlite3 raises ProgrammingError for, with its messages).
class SqlUsageError : public InvalidArgument {
public:
    using InvalidArgument::InvalidArgument;
};

/// A database path that cannot be used; carries the errno that explains why.
class PathError : public InvalidArgument {
public:
    PathError(int error_number, const std::string& message, std::string path)
        : InvalidArgument(message), error_number_(error_number), path_(std::move(path)) {}
    /// The errno value (ENOENT, EISDIR, EACCES...).
    int error_number() const noexcept { return error_number_; }
    /// The offending path.
    const std::string& path() const noexcept { return path_; }

private:
    int error_number_;
    std::string path_;
};

/// What went wrong inside SQLite, coarse enough to map to one exception type per kind.
enum class StoreErrorKind {
    Busy,            ///< SQLITE_BUSY / SQLITE_LOCKED after the busy timeout expired.
    ReadOnly,        ///< SQLITE_READONLY: the file or directory cannot be written.
    NotADatabase,    ///< SQLITE_NOTADB / SQLITE_CORRUPT: the file is not a usable database.
    CantOpen,        ///< SQLITE_CANTOPEN: the path cannot be opened at all.
    IO,              ///< SQLITE_IOERR / SQLITE_FULL: the operating system refused a read or write.
    Closed,          ///< The store was closed before the call.
    InvalidData,     ///< A stored row cannot be read back (written by another program, say).
    Connection,      ///< A database server cannot be reached, or the connection was lost.
    Authentication,  ///< The server refused the credentials.
    Timeout,         ///< A statement ran past the store's timeout (server or client side).
    Other,           ///< Any other failure.
};

/// A failed SQLite operation, with SQLite's own (extended) result code and message; or a failed
/// PostgreSQL one, with its SQLSTATE (sqlite_code 0).
class StoreError : public std::runtime_error {
public:
    StoreError(StoreErrorKind kind, int sqlite_code, const std::string& message);
    /// A PostgreSQL failure: `sqlstate` is the server's five-character code ("" when the client
    /// detected it, e.g. a lost connection).
    StoreError(StoreErrorKind kind, const std::string& message, std::string sqlstate);

    /// Coarse category used to pick the Python exception type.
    StoreErrorKind kind() const noexcept { return kind_; }
    /// SQLite's extended result code (0 when the error did not come from SQLite).
    int sqlite_code() const noexcept { return sqlite_code_; }
    /// SQLite's symbolic name for the code, e.g. "SQLITE_BUSY".
    std::string sqlite_error_name() const;

    /// Maps an SQLite result code to its kind.
    static StoreErrorKind kind_for_code(int sqlite_code) noexcept;
    /// PostgreSQL's SQLSTATE for the failure ("" for SQLite errors).
    const std::string& sqlstate() const noexcept { return sqlstate_; }

private:
    StoreErrorKind kind_;
    int sqlite_code_;
    std::string sqlstate_;
};

/// The error every call on a closed store throws.
StoreError store_closed_error();

}  // namespace asap_native
