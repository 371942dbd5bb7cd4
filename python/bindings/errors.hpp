// Maps core exceptions to the package's Python exception types.
#pragma once

#include <pybind11/pybind11.h>

namespace asap_native::bindings {

/// Installs the translator: InvalidArgument -> ValueError, PathError -> OSError (by errno),
/// StoreError -> the asap_native.errors class for its kind, with SQLite's code attached.
void register_errors(pybind11::module_& module);

}  // namespace asap_native::bindings
