// Maps core exceptions to the package's Python exception types.
#pragma once

#include <pybind11/pybind11.h>

#include <exception>

namespace asap_native::bindings {

/// Installs the translator: InvalidArgument -> ValueError, PathError -> OSError (by errno),
/// StoreError -> the asap_native.errors class for its kind, with SQLite's code attached.
void register_errors(pybind11::module_& module);

/// The Python exception object (not raised) for a core exception, translated as above; any
/// other C++ exception becomes RuntimeError. Call with the GIL held.
pybind11::object python_exception(std::exception_ptr error);

}  // namespace asap_native::bindings
