// Python bindings of the SQL repository (the engine under asap-protocol's AsyncSqliteRepository).
#pragma once

#include <pybind11/pybind11.h>

#include <memory>

#include "asap_native/sqlite_engine.hpp"

namespace asap_native::bindings {

/// A NativeRepository running SQL on `engine`, the engine of a SQLite store.
pybind11::object repository_on(std::shared_ptr<SqliteEngine> engine);

/// Registers NativeRepository, NativeSession and open_sqlite_repository.
void register_repository(pybind11::module_& module);

}  // namespace asap_native::bindings
