// Python classes the package hands to _core once, at import (asap_native/__init__.py): the
// exceptions it raises and the models it builds. Looked up here, never by name per call.
#pragma once

#include <pybind11/pybind11.h>

#include <string>

#include "asap_native/errors.hpp"

namespace asap_native::bindings {

/// The asap_native.errors class for a core StoreError kind.
pybind11::handle store_error_class(StoreErrorKind kind);

/// The class for SQL that cannot run as given (SqlUsageError): sqlite3.ProgrammingError.
pybind11::handle sql_usage_error_class();

/// An OSError that is also a StoreError, of the subclass errno selects, from
/// asap_native.errors.path_error(errno, message, path).
pybind11::object path_error_object(int error_number, const std::string& message,
                                   const std::string& path);

/// The exceptions of the codecs (asap_native.compression registers them when it is imported:
/// they derive from FastAPI's HTTPException when it is installed).
enum class CodecError { Truncated, Corrupt, LimitExceeded };
pybind11::handle codec_error_class(CodecError kind);

/// The model builders, resolved on first use (asap's models when asap-protocol is installed:
/// resolving them imports it, which store users pay for only when a result is built).
struct ModelFactories {
    pybind11::object snapshot;  ///< fields dict -> StateSnapshot
    pybind11::object event;     ///< (task, agent, consumer, counters, timestamp) -> UsageEvent
    pybind11::object
        aggregate;  ///< (agent, period, tokens, duration, tasks, calls) -> UsageAggregate
};
const ModelFactories& model_factories();

/// Registers _core._register_python_classes and _core._register_codec_errors.
void register_python_classes(pybind11::module_& module);

}  // namespace asap_native::bindings
