#include "stats.hpp"

namespace py = pybind11;

namespace asap_native::bindings {

py::dict stats_to_dict(const StoreFigures& stats) {
    auto milliseconds = [](std::uint64_t ns) { return static_cast<double>(ns) / 1e6; };
    py::dict operations;
    for (std::size_t i = 0; i < kStoreOperationCount; ++i) {
        const OperationFigures& figures = stats.operations[i];
        py::dict latency;
        latency["p50"] = milliseconds(figures.latency_p50_ns);
        latency["p99"] = milliseconds(figures.latency_p99_ns);
        latency["max"] = milliseconds(figures.latency_max_ns);
        py::dict entry;
        entry["count"] = figures.count;
        entry["errors"] = figures.errors;
        entry["latency_ms"] = latency;
        operations[operation_name(static_cast<StoreOperation>(i))] = entry;
    }
    py::dict errors;
    for (const auto& [kind, count] : stats.errors_by_kind) errors[py::str(kind)] = count;
    py::dict batch_size;
    batch_size["p50"] = stats.batch_size_p50;
    batch_size["p99"] = stats.batch_size_p99;
    batch_size["max"] = stats.batch_size_max;
    py::dict group_commit;
    group_commit["batches"] = stats.batches;
    group_commit["writes"] = stats.batched_writes;
    group_commit["largest_batch"] = stats.batch_size_max;
    group_commit["batch_size"] = batch_size;
    py::dict out;
    out["operations"] = operations;
    out["errors"] = errors;
    out["busy_waits"] = stats.busy_waits;
    out["group_commit"] = group_commit;
    return out;
}

}  // namespace asap_native::bindings
