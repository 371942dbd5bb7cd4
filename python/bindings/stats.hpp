// Store figures as Python dicts.
#pragma once

#include <pybind11/pybind11.h>

#include "asap_native/store_stats.hpp"

namespace asap_native::bindings {

/// {"operations": {name: {"count", "errors", "latency_ms": {"p50", "p99", "max"}}},
///  "errors": {kind: n}, "busy_waits": n,
///  "group_commit": {"batches", "writes", "largest_batch", "batch_size": {"p50", "p99", "max"}}}
pybind11::dict stats_to_dict(const StoreFigures& stats);

}  // namespace asap_native::bindings
