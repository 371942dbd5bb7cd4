// Python bindings of the PostgreSQL stores (when the core is built with libpq).
#pragma once

#include <pybind11/pybind11.h>

#include <memory>
#include <string>

#include "asap_native/metering_store.hpp"
#include "asap_native/snapshot_store.hpp"

namespace asap_native::bindings {

/// The stores for NativeSnapshotStore / NativeMeteringStore (opened with the GIL released).
/// Without libpq support they raise ImportError.
std::shared_ptr<SnapshotStore> open_postgres_snapshot(pybind11::handle dsn, double timeout,
                                                      int max_connections);
std::shared_ptr<MeteringStore> open_postgres_metering(pybind11::handle dsn, double timeout,
                                                      int max_connections);

/// Registers postgres_available, postgres_describe_dsn and the copy functions.
void register_postgres(pybind11::module_& module);

}  // namespace asap_native::bindings
