// Reading store arguments out of Python objects, with clear TypeErrors and ValueErrors.
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <optional>
#include <string>

#include "asap_native/timestamp.hpp"
#include "asap_native/usage.hpp"

namespace asap_native::bindings {

/// An attribute name interned once and kept for the interpreter's life.
PyObject* interned(const char* text);
/// `module.name` (a class, a function), imported and kept for the interpreter's life: never
/// released, so nothing is decref'd during finalization.
PyObject* kept_attribute(const char* module, const char* name);
/// The one `Table` (a struct of kept_attribute()s), built on first use and likewise kept.
template <typename Table>
const Table& kept_table() {
    static const Table* table = new Table();
    return *table;
}
/// `owner.attribute`, or TypeError "expected <expected> with attribute '<name>'".
pybind11::object required_attribute(pybind11::handle owner, PyObject* attribute,
                                    const char* expected);

/// A str argument, possibly empty, as UTF-8; raises TypeError naming `what`, or sqlite3's
/// UnicodeEncodeError (with a note naming `what`) for a lone surrogate.
std::string any_text(pybind11::handle value, const char* what);
/// A non-empty str argument; raises TypeError / ValueError naming `what`.
std::string require_text(pybind11::handle value, const char* what);
/// A version argument: None, or an int as int64_argument takes it.
std::optional<std::int64_t> version_argument(pybind11::handle value, const char* what);
/// An int that fits in 64 bits (bool rejected); raises TypeError, or sqlite3's OverflowError,
/// naming `what`.
std::int64_t int64_argument(pybind11::handle value, const char* what);
/// An int >= 0 that fits in 128 bits (bool rejected); raises TypeError / ValueError.
UsageCount count_argument(pybind11::handle value, const char* what);
/// A datetime (via isoformat()) or an ISO-8601 str, validated; raises TypeError / ValueError.
std::string timestamp_text(pybind11::handle value, const char* what);
/// The instant of a datetime or ISO-8601 str (naive means UTC).
InstantMicros instant_of(pybind11::handle value, const char* what);
/// A str or os.PathLike path as UTF-8 text; raises TypeError naming `what`.
std::string path_argument(pybind11::handle value, const char* what);

}  // namespace asap_native::bindings
