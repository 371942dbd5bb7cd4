// Python bindings of the PostgreSQL stores (when the core is built with libpq).
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <string>

#include "asap_native/metering_store.hpp"
#include "asap_native/snapshot_store.hpp"

namespace asap_native::bindings {

/// The PostgreSQL store implementing `Interface` (SnapshotStore or MeteringStore), opened with
/// the GIL released. Without libpq support it raises ImportError.
template <typename Interface>
std::shared_ptr<Interface> open_postgres(pybind11::handle dsn, double timeout, int max_connections);

/// Registers postgres_available, postgres_describe_dsn and the copy functions.
void register_postgres(pybind11::module_& module);

}  // namespace asap_native::bindings
