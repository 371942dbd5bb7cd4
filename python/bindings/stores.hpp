// Python bindings of the snapshot and metering stores: sync calls and queued (awaitable) calls.
#pragma once

#include <pybind11/pybind11.h>

namespace asap_native::bindings {

/// Registers NativeSnapshotStore, NativeMeteringStore and their open_* factories.
void register_stores(pybind11::module_& module);

}  // namespace asap_native::bindings
