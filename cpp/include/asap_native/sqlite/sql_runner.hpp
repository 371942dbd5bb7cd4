// Running SQL that comes from outside the library, with its parameters.
#pragma once

#include <string>

#include "asap_native/sql.hpp"

namespace asap_native::sqlite {

class Connection;

/// Runs one statement as Python's sqlite3 `Cursor.execute` does: binds the parameters by
/// position or by name, steps to the end and keeps every row. Throws SqlUsageError (with
/// sqlite3's own messages) for SQL holding more than one statement or parameters that do not
/// match its placeholders, and StoreError for what SQLite refuses.
SqlResult run_sql(Connection& connection, const std::string& sql, const SqlParameters& parameters);

/// Runs every statement of `script` with no parameters (`Cursor.executescript`).
void run_script(Connection& connection, const std::string& script);

}  // namespace asap_native::sqlite
