#include "stores.hpp"

#include <pybind11/stl.h>

#include <chrono>
#include <memory>

#include "asap_native/errors.hpp"
#include "asap_native/executor.hpp"
#include "asap_native/memory_metering_store.hpp"
#include "asap_native/memory_snapshot_store.hpp"
#include "asap_native/sqlite_metering_store.hpp"
#include "asap_native/sqlite_snapshot_store.hpp"
#include "completions.hpp"
#include "gil.hpp"
#include "json_convert.hpp"
#include "python_values.hpp"
#include "stats.hpp"

namespace py = pybind11;

namespace asap_native::bindings {
namespace {

sqlite::ConnectionOptions connection_options(const std::string& durability, double timeout) {
    sqlite::ConnectionOptions options;
    if (durability == "normal")
        options.durability = sqlite::Durability::Normal;
    else if (durability == "full")
        options.durability = sqlite::Durability::Full;
    else
        throw py::value_error("durability must be 'normal' or 'full', got '" + durability + "'");
    if (!(timeout >= 0) || timeout > 86400)
        throw py::value_error("timeout must be between 0 and 86400 seconds");
    options.busy_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(timeout * 1000));
    return options;
}

std::string path_text(py::handle path) {
    py::object fspath = py::module_::import("os").attr("fspath");
    py::object text;
    try {
        text = fspath(path);
    } catch (py::error_already_set&) {
        throw py::type_error(std::string("db_path must be a str or os.PathLike, not ") +
                             Py_TYPE(path.ptr())->tp_name);
    }
    if (!PyUnicode_Check(text.ptr()))
        throw py::type_error("db_path must be a str path, not bytes");
    Py_ssize_t size = 0;
    const char* utf8 = PyUnicode_AsUTF8AndSize(text.ptr(), &size);
    if (utf8 == nullptr) throw py::error_already_set();
    return std::string(utf8, static_cast<std::size_t>(size));
}

py::dict executor_stats_dict(const ExecutorStats& figures) {
    py::dict out;
    out["writes"] = figures.writes;
    out["reads"] = figures.reads;
    out["batches"] = figures.batches;
    out["largest_batch"] = figures.largest_batch;
    return out;
}

// One Python-facing class for every SnapshotStore: converts arguments while holding the GIL
// and calls the core with the GIL released.
class NativeSnapshotStore {
public:
    NativeSnapshotStore(std::shared_ptr<SnapshotStore> store, py::object snapshot_factory,
                        SqliteSnapshotStore* sqlite)
        : store_(std::move(store)), factory_(std::move(snapshot_factory)), sqlite_(sqlite) {}

    void save(py::handle snapshot) {
        const Snapshot native = snapshot_from_python(snapshot);
        without_gil([&] { store_->save(native); });
    }

    py::object get(py::handle task_id, py::handle version) {
        const std::string task = require_text(task_id, "task_id");
        const auto wanted = optional_version(version, "version");
        const std::optional<Snapshot> found =
            without_gil([&] { return store_->get(task, wanted); });
        if (!found) return py::none();
        return to_python(*found);
    }

    std::vector<std::int64_t> list_versions(py::handle task_id) {
        const std::string task = require_text(task_id, "task_id");
        return without_gil([&] { return store_->list_versions(task); });
    }

    bool remove(py::handle task_id, py::handle version) {
        const std::string task = require_text(task_id, "task_id");
        const auto wanted = optional_version(version, "version");
        return without_gil([&] { return store_->remove(task, wanted); });
    }

    void close() {
        without_gil([&] { store_->close(); });
    }

    bool closed() const { return store_->is_closed(); }

    // Queued (awaitable) API: returns the request id whose result `queue` will deliver.
    std::uint64_t save_queued(py::handle snapshot, PyCompletionQueue& queue) {
        SqliteSnapshotStore& store = sqlite_store();
        Snapshot native = snapshot_from_python(snapshot);
        auto target = queue.native();
        const std::uint64_t id = target->next_id();
        store.save_queued(std::move(native), [target, id](std::exception_ptr error) {
            target->push(Completion{id, error, std::monostate{}});
        });
        return id;
    }

    std::uint64_t get_queued(py::handle task_id, py::handle version, PyCompletionQueue& queue) {
        SqliteSnapshotStore& store = sqlite_store();
        std::string task = require_text(task_id, "task_id");
        const auto wanted = optional_version(version, "version");
        auto target = queue.native();
        const std::uint64_t id = target->next_id();
        store.get_queued(std::move(task), wanted,
                         [target, id](std::optional<Snapshot> found, std::exception_ptr error) {
                             target->push(Completion{id, error, std::move(found)});
                         });
        return id;
    }

    std::uint64_t list_versions_queued(py::handle task_id, PyCompletionQueue& queue) {
        SqliteSnapshotStore& store = sqlite_store();
        std::string task = require_text(task_id, "task_id");
        auto target = queue.native();
        const std::uint64_t id = target->next_id();
        store.list_versions_queued(
            std::move(task),
            [target, id](std::vector<std::int64_t> versions, std::exception_ptr error) {
                target->push(Completion{id, error, std::move(versions)});
            });
        return id;
    }

    std::uint64_t delete_queued(py::handle task_id, py::handle version, PyCompletionQueue& queue) {
        SqliteSnapshotStore& store = sqlite_store();
        std::string task = require_text(task_id, "task_id");
        const auto wanted = optional_version(version, "version");
        auto target = queue.native();
        const std::uint64_t id = target->next_id();
        store.remove_queued(std::move(task), wanted,
                            [target, id](bool removed, std::exception_ptr error) {
                                target->push(Completion{id, error, removed});
                            });
        return id;
    }

    const SnapshotStore& core() const { return *store_; }

    py::dict executor_stats() const {
        return sqlite_ == nullptr ? py::dict() : executor_stats_dict(sqlite_->executor_stats());
    }

private:
    py::object to_python(const Snapshot& snapshot) const {
        return snapshot_to_python(snapshot, factory_);
    }

    SqliteSnapshotStore& sqlite_store() const {
        if (sqlite_ == nullptr) throw py::type_error("the in-memory store has no queued API");
        return *sqlite_;
    }

    std::shared_ptr<SnapshotStore> store_;
    py::object factory_;
    SqliteSnapshotStore* sqlite_;
};

class NativeMeteringStore {
public:
    NativeMeteringStore(std::shared_ptr<MeteringStore> store, SqliteMeteringStore* sqlite)
        : store_(std::move(store)), sqlite_(sqlite) {}

    void record(py::handle event) {
        const UsageEvent native = usage_event_from_python(event);
        without_gil([&] { store_->record(native); });
    }

    py::list query(py::handle agent_id, py::handle start, py::handle end, py::handle limit,
                   py::handle offset) {
        const std::string agent = require_text(agent_id, "agent_id");
        const InstantMicros from = instant_of(start, "start");
        const InstantMicros to = instant_of(end, "end");
        const QueryPage page = query_page(limit, offset);
        const std::vector<UsageEvent> events =
            without_gil([&] { return store_->query(agent, from, to, page); });
        py::list out(events.size());
        for (std::size_t i = 0; i < events.size(); ++i) out[i] = event_to_tuple(events[i]);
        return out;
    }

    py::tuple aggregate(py::handle agent_id, py::handle period) {
        const std::string agent = require_text(agent_id, "agent_id");
        const std::string period_text = any_text(period, "period");
        const UsageAggregate total =
            without_gil([&] { return store_->aggregate(agent, period_text); });
        return aggregate_to_tuple(total);
    }

    std::uint64_t record_queued(py::handle event, PyCompletionQueue& queue) {
        SqliteMeteringStore& store = sqlite_store();
        UsageEvent native = usage_event_from_python(event);
        auto target = queue.native();
        const std::uint64_t id = target->next_id();
        store.record_queued(std::move(native), [target, id](std::exception_ptr error) {
            target->push(Completion{id, error, std::monostate{}});
        });
        return id;
    }

    std::uint64_t query_queued(py::handle agent_id, py::handle start, py::handle end,
                               py::handle limit, py::handle offset, PyCompletionQueue& queue) {
        SqliteMeteringStore& store = sqlite_store();
        std::string agent = require_text(agent_id, "agent_id");
        const InstantMicros from = instant_of(start, "start");
        const InstantMicros to = instant_of(end, "end");
        const QueryPage page = query_page(limit, offset);
        auto target = queue.native();
        const std::uint64_t id = target->next_id();
        store.query_queued(std::move(agent), from, to, page,
                           [target, id](std::vector<UsageEvent> events, std::exception_ptr error) {
                               target->push(Completion{id, error, std::move(events)});
                           });
        return id;
    }

    std::uint64_t aggregate_queued(py::handle agent_id, py::handle period,
                                   PyCompletionQueue& queue) {
        SqliteMeteringStore& store = sqlite_store();
        std::string agent = require_text(agent_id, "agent_id");
        std::string period_text = any_text(period, "period");
        auto target = queue.native();
        const std::uint64_t id = target->next_id();
        store.aggregate_queued(std::move(agent), std::move(period_text),
                               [target, id](UsageAggregate total, std::exception_ptr error) {
                                   target->push(Completion{id, error, std::move(total)});
                               });
        return id;
    }

    const MeteringStore& core() const { return *store_; }

    py::dict executor_stats() const {
        return sqlite_ == nullptr ? py::dict() : executor_stats_dict(sqlite_->executor_stats());
    }

    void close() {
        without_gil([&] { store_->close(); });
    }

    bool closed() const { return store_->is_closed(); }

private:
    SqliteMeteringStore& sqlite_store() const {
        if (sqlite_ == nullptr) throw py::type_error("the in-memory store has no queued API");
        return *sqlite_;
    }

    static QueryPage query_page(py::handle limit, py::handle offset) {
        QueryPage page;
        if (!limit.is_none()) page.limit = integer(limit, "limit");
        page.offset = integer(offset, "offset");
        if (page.offset < 0) throw py::value_error("offset must be non-negative");
        if (page.limit && *page.limit < 0) throw py::value_error("limit must be non-negative");
        return page;
    }

    static std::int64_t integer(py::handle value, const char* what) {
        if (!PyLong_Check(value.ptr()) || PyBool_Check(value.ptr()))
            throw py::type_error(std::string(what) + " must be an int, not " +
                                 Py_TYPE(value.ptr())->tp_name);
        int overflow = 0;
        const long long number = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
        if (overflow != 0) throw py::value_error(std::string(what) + " does not fit in 64 bits");
        return number;
    }

    std::shared_ptr<MeteringStore> store_;
    SqliteMeteringStore* sqlite_;
};

}  // namespace

void register_stores(py::module_& m) {
    py::class_<NativeSnapshotStore>(m, "NativeSnapshotStore",
                                    "A core SnapshotStore; use asap_native.SQLiteSnapshotStore.")
        .def("save", &NativeSnapshotStore::save, py::arg("snapshot"))
        .def("get", &NativeSnapshotStore::get, py::arg("task_id"), py::arg("version") = py::none())
        .def("list_versions", &NativeSnapshotStore::list_versions, py::arg("task_id"))
        .def("delete", &NativeSnapshotStore::remove, py::arg("task_id"),
             py::arg("version") = py::none())
        .def("save_queued", &NativeSnapshotStore::save_queued, py::arg("snapshot"),
             py::arg("queue"))
        .def("get_queued", &NativeSnapshotStore::get_queued, py::arg("task_id"),
             py::arg("version"), py::arg("queue"))
        .def("list_versions_queued", &NativeSnapshotStore::list_versions_queued,
             py::arg("task_id"), py::arg("queue"))
        .def("delete_queued", &NativeSnapshotStore::delete_queued, py::arg("task_id"),
             py::arg("version"), py::arg("queue"))
        .def("executor_stats", &NativeSnapshotStore::executor_stats)
        .def("stats", [](const NativeSnapshotStore& self) { return stats_to_dict(self.core().stats()); })
        .def("close", &NativeSnapshotStore::close)
        .def_property_readonly("closed", &NativeSnapshotStore::closed);

    py::class_<NativeMeteringStore>(m, "NativeMeteringStore",
                                    "A core MeteringStore; use asap_native.SQLiteMeteringStore.")
        .def("record", &NativeMeteringStore::record, py::arg("event"))
        .def("query", &NativeMeteringStore::query, py::arg("agent_id"), py::arg("start"),
             py::arg("end"), py::arg("limit") = py::none(), py::arg("offset") = 0)
        .def("aggregate", &NativeMeteringStore::aggregate, py::arg("agent_id"), py::arg("period"))
        .def("record_queued", &NativeMeteringStore::record_queued, py::arg("event"),
             py::arg("queue"))
        .def("query_queued", &NativeMeteringStore::query_queued, py::arg("agent_id"),
             py::arg("start"), py::arg("end"), py::arg("limit"), py::arg("offset"),
             py::arg("queue"))
        .def("aggregate_queued", &NativeMeteringStore::aggregate_queued, py::arg("agent_id"),
             py::arg("period"), py::arg("queue"))
        .def("executor_stats", &NativeMeteringStore::executor_stats)
        .def("stats", [](const NativeMeteringStore& self) { return stats_to_dict(self.core().stats()); })
        .def("close", &NativeMeteringStore::close)
        .def_property_readonly("closed", &NativeMeteringStore::closed);

    m.def(
        "open_sqlite_snapshot_store",
        [](py::handle path, const std::string& durability, double timeout, py::object factory) {
            const std::string text = path_text(path);
            const auto options = connection_options(durability, timeout);
            std::shared_ptr<SqliteSnapshotStore> store =
                without_gil([&] { return std::make_shared<SqliteSnapshotStore>(text, options); });
            SqliteSnapshotStore* raw = store.get();
            return NativeSnapshotStore(std::move(store), std::move(factory), raw);
        },
        py::arg("db_path"), py::arg("durability"), py::arg("timeout"), py::arg("snapshot_factory"));
    m.def(
        "open_memory_snapshot_store",
        [](py::object factory) {
            return NativeSnapshotStore(std::make_shared<MemorySnapshotStore>(), std::move(factory),
                                       nullptr);
        },
        py::arg("snapshot_factory"));
    m.def(
        "open_sqlite_metering_store",
        [](py::handle path, const std::string& durability, double timeout) {
            const std::string text = path_text(path);
            const auto options = connection_options(durability, timeout);
            std::shared_ptr<SqliteMeteringStore> store =
                without_gil([&] { return std::make_shared<SqliteMeteringStore>(text, options); });
            SqliteMeteringStore* raw = store.get();
            return NativeMeteringStore(std::move(store), raw);
        },
        py::arg("db_path"), py::arg("durability"), py::arg("timeout"));
    m.def("open_memory_metering_store",
          [] { return NativeMeteringStore(std::make_shared<MemoryMeteringStore>(), nullptr); });
}

}  // namespace asap_native::bindings
