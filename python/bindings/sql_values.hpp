// SQL values <-> Python objects, converted as Python's sqlite3 converts them.
#pragma once

#include <pybind11/pybind11.h>

#include "asap_native/sql.hpp"

namespace asap_native::bindings {

/// The parameters of a statement as sqlite3's Cursor.execute takes them: a dict binds by
/// name, a sequence by position; each value through sqlite3's adapters, then None, int,
/// float, str or a buffer (a BLOB). Raises sqlite3.ProgrammingError, OverflowError... with
/// sqlite3's own messages.
SqlParameters sql_parameters(pybind11::handle parameters);

/// (column names, rows as tuples, rowcount, lastrowid). TEXT that is not UTF-8 raises
/// sqlite3.OperationalError, as sqlite3 does when it fetches it.
pybind11::object to_python(const SqlResult& result);

}  // namespace asap_native::bindings
