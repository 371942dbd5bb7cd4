// Maps core exceptions to the package's Python exception types.
#pragma once

#include <pybind11/pybind11.h>

#include <exception>
#include <string>

namespace asap_native::bindings {

/// Installs the translator: InvalidArgument -> ValueError, PathError -> an OSError that is
/// also a StoreError, StoreError -> the asap_native.errors class for its kind (with SQLite's
/// code attached).
void register_errors(pybind11::module_& module);

/// The Python exception object (not raised) for any exception: the translations above,
/// pybind11's own exceptions as they would be raised, bad_alloc as MemoryError, anything else
/// as RuntimeError. Call with the GIL held. May itself throw (MemoryError).
pybind11::object python_exception(std::exception_ptr error);

/// Raises asap_native.errors.StoredDataError (a StoreError and a ValueError) with `message`,
/// chained to `cause` when given. A `cause` that is not a ValueError (MemoryError...) is not
/// a data problem: it is rethrown as it is.
[[noreturn]] void raise_stored_data_error(const std::string& message,
                                          std::exception_ptr cause = nullptr);

}  // namespace asap_native::bindings
