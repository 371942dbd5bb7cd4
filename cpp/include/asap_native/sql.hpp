// SQL statements as data: the values bound to them and the results they give.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace asap_native {

/// SQLite's BLOB: bytes, kept apart from TEXT.
struct SqlBlob {
    std::string bytes;
    bool operator==(const SqlBlob& other) const { return bytes == other.bytes; }
};

/// One value as SQLite stores it: NULL, INTEGER, REAL, TEXT (UTF-8) or BLOB.
using SqlValue = std::variant<std::monostate, std::int64_t, double, std::string, SqlBlob>;

/// The parameters of a statement: by position (`?`, `?NNN`) or by name (`:name`, `@name`,
/// `$name`; the map's keys are the names without their prefix), as Python's sqlite3 takes
/// them from a sequence or a mapping.
struct SqlParameters {
    std::vector<SqlValue> positional;
    std::map<std::string, SqlValue> named;
    bool by_name = false;
    /// The last inserted rowid of the caller's own connection, when the caller keeps one:
    /// set on the connection before the statement runs, so that the statement's lastrowid is
    /// what a connection of the caller's alone would report (connections here are shared).
    std::optional<std::int64_t> last_insert_rowid;
};

/// What running one statement gave: its columns and rows (SELECT), the rows it changed and the
/// last inserted rowid (INSERT/UPDATE/DELETE), as Python's sqlite3 cursor reports them.
struct SqlResult {
    std::vector<std::string> columns;  ///< empty for a statement that returns no rows
    std::vector<std::vector<SqlValue>> rows;
    std::int64_t rowcount = -1;  ///< changes made by a DML statement, else -1
    std::int64_t lastrowid = 0;  ///< sqlite3_last_insert_rowid() after the statement
};

/// True for INSERT, UPDATE, DELETE and REPLACE statements, found the way Python's sqlite3 finds
/// them (the first keyword, after white space and comments): the statements before which it
/// opens a transaction implicitly.
bool is_dml(const std::string& sql);

/// `text` between two `quote` characters, each `quote` in it doubled: a string literal
/// (quote ') or an identifier (quote ") in SQLite's and PostgreSQL's SQL.
std::string sql_quoted(const std::string& text, char quote);

}  // namespace asap_native
