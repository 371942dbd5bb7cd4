// Python bindings of database maintenance: figures, checks, backups, retention, export.
#pragma once

#include <pybind11/pybind11.h>

#include <memory>

#include "asap_native/sqlite_engine.hpp"

namespace asap_native::bindings {

/// A NativeMaintenance on `engine`, the engine of a SQLite store (left open by close()).
pybind11::object maintenance_on(std::shared_ptr<SqliteEngine> engine);

/// Registers NativeMaintenance, NativeRetention and open_sqlite_maintenance.
void register_maintenance(pybind11::module_& module);

}  // namespace asap_native::bindings
