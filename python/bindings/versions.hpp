// Python bindings of the versions of the libraries the core runs on.
#pragma once

#include <pybind11/pybind11.h>

namespace asap_native::bindings {

/// Registers sqlite_version() and minimum_sqlite_version(); raises ImportError when the SQLite
/// library loaded at run time is older than the stores need.
void register_versions(pybind11::module_& module);

}  // namespace asap_native::bindings
