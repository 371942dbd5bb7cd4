// SQL values <-> Python objects, converted as Python's sqlite3 converts them.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <string_view>

#include "asap_native/sql.hpp"

namespace asap_native::bindings {

/// The parameters of `sql` as sqlite3's Cursor.execute takes them: a dict binds by name (only
/// the keys `sql` may name are converted), any other sequence by position; each value through
/// sqlite3's adapters, then None, int, float, str or a buffer (a BLOB). Raises
/// sqlite3.ProgrammingError, OverflowError... with sqlite3's own messages.
/// `last_insert_rowid`: see SqlParameters.
SqlParameters sql_parameters(pybind11::handle parameters, std::string_view sql,
                             std::optional<std::int64_t> last_insert_rowid = std::nullopt);

/// (column names, rows as tuples, rowcount, lastrowid, undecodable). TEXT that is not UTF-8
/// stops the rows before its own: `undecodable` is then the sqlite3.OperationalError that
/// sqlite3 raises when that row is fetched (else None).
pybind11::object to_python(const SqlResult& result);

/// to_python(), raising `undecodable` at once.
pybind11::object to_python_now(const SqlResult& result);

}  // namespace asap_native::bindings
