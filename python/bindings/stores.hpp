// Python bindings of the stores: what every store binding shares, and the snapshot and metering
// store bindings (sync and queued calls).
#pragma once

#include <pybind11/pybind11.h>

#include <chrono>
#include <memory>
#include <string>

#include "arguments.hpp"
#include "asap_native/sqlite/connection.hpp"
#include "gil.hpp"
#include "stats.hpp"

namespace asap_native::bindings {

/// Connection options from the Python arguments; raises ValueError for bad ones.
inline sqlite::ConnectionOptions connection_options(const std::string& durability, double timeout) {
    sqlite::ConnectionOptions options;
    if (durability == "normal")
        options.durability = sqlite::Durability::Normal;
    else if (durability == "full")
        options.durability = sqlite::Durability::Full;
    else
        throw pybind11::value_error("durability must be 'normal' or 'full', got '" + durability +
                                    "'");
    if (!(timeout >= 0) || timeout > 86400)
        throw pybind11::value_error("timeout must be between 0 and 86400 seconds");
    options.busy_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout * 1000));
    return options;
}

/// Opens a SQLite-backed core store with the GIL released (opening runs SQLite: schema, WAL).
template <typename Store>
std::shared_ptr<Store> open_sqlite(pybind11::handle path, const std::string& durability,
                                   double timeout) {
    const std::string text = path_argument(path, "db_path");
    const auto options = connection_options(durability, timeout);
    return without_gil([&] { return std::make_shared<Store>(text, options); });
}

/// What every store binding shares: close(), closed, stats().
template <typename Store>
class NativeStore {
public:
    explicit NativeStore(std::shared_ptr<Store> store) : store_(std::move(store)) {}
    void close() {
        without_gil([&] { store_->close(); });
    }
    bool closed() const { return store_->is_closed(); }
    pybind11::dict stats() const { return stats_to_dict(store_->stats()); }
    const std::shared_ptr<Store>& core() const { return store_; }

protected:
    /// The sync path of every operation: the core's method run with the GIL released, on
    /// arguments read from Python before (with the GIL held).
    template <typename Method, typename... Arguments>
    auto call(Method method, const Arguments&... arguments) {
        return without_gil([&] { return ((*store_).*method)(arguments...); });
    }

    std::shared_ptr<Store> store_;
};

/// close(), closed and stats() on a store binding class.
template <typename Binding>
pybind11::class_<Binding> register_store_methods(pybind11::class_<Binding> cls) {
    return cls.def("close", &Binding::close)
        .def_property_readonly("closed", &Binding::closed)
        .def("stats", &Binding::stats);
}

/// Registers NativeSnapshotStore, NativeMeteringStore and their open_* factories.
void register_stores(pybind11::module_& module);

}  // namespace asap_native::bindings
