#include "stores.hpp"

#include <chrono>
#include <memory>

#include "arguments.hpp"
#include "asap_native/memory_metering_store.hpp"
#include "asap_native/memory_snapshot_store.hpp"
#include "asap_native/sqlite_metering_store.hpp"
#include "asap_native/sqlite_snapshot_store.hpp"
#include "completions.hpp"
#include "gil.hpp"
#include "maintenance.hpp"
#include "models.hpp"
#include "postgres.hpp"
#include "repository.hpp"
#include "stats.hpp"

namespace py = pybind11;

namespace asap_native::bindings {
namespace {

// Each operation is a sync method (arguments read with the GIL held, the core called without
// it, the result converted with it) and a queued method (the same arguments, the core's queued
// call, the result delivered through the loop's queue).
class NativeSnapshotStore : public NativeStore<SnapshotStore> {
public:
    using NativeStore::NativeStore;

    void save(py::handle snapshot) { call(&SnapshotStore::save, snapshot_from_python(snapshot)); }
    py::object get(py::handle task_id, py::handle version) {
        const std::string task = any_text(task_id, "task_id");
        const auto wanted = version_argument(version, "version");
        return to_python(call(&SnapshotStore::get, task, wanted));
    }
    py::object list_versions(py::handle task_id) {
        const std::string task = any_text(task_id, "task_id");
        return to_python(call(&SnapshotStore::list_versions, task));
    }
    bool remove(py::handle task_id, py::handle version) {
        const std::string task = any_text(task_id, "task_id");
        const auto wanted = version_argument(version, "version");
        return call(&SnapshotStore::remove, task, wanted);
    }

    std::uint64_t save_queued(py::handle snapshot, LoopQueue& queue) {
        return queue.submit<Nothing>(
            [&, native = snapshot_from_python(snapshot)](auto done) mutable {
                store_->save_queued(std::move(native), std::move(done));
            });
    }
    std::uint64_t get_queued(py::handle task_id, py::handle version, LoopQueue& queue) {
        return queue.submit<std::optional<Snapshot>>(
            [&, task = any_text(task_id, "task_id"),
             wanted = version_argument(version, "version")](auto done) mutable {
                store_->get_queued(std::move(task), wanted, std::move(done));
            });
    }
    std::uint64_t list_versions_queued(py::handle task_id, LoopQueue& queue) {
        return queue.submit<std::vector<std::int64_t>>(
            [&, task = any_text(task_id, "task_id")](auto done) mutable {
                store_->list_versions_queued(std::move(task), std::move(done));
            });
    }
    std::uint64_t remove_queued(py::handle task_id, py::handle version, LoopQueue& queue) {
        return queue.submit<bool>(
            [&, task = any_text(task_id, "task_id"),
             wanted = version_argument(version, "version")](auto done) mutable {
                store_->remove_queued(std::move(task), wanted, std::move(done));
            });
    }
};

class NativeMeteringStore : public NativeStore<MeteringStore> {
public:
    using NativeStore::NativeStore;

    void record(py::handle event) { call(&MeteringStore::record, usage_event_from_python(event)); }
    py::object query(py::handle agent_id, py::handle start, py::handle end, py::handle limit,
                     py::handle offset) {
        const Query q = query_arguments(agent_id, start, end, limit, offset);
        return to_python(call(&MeteringStore::query, q.agent, q.start, q.end, q.page));
    }
    py::object aggregate(py::handle agent_id, py::handle period) {
        const std::string agent = any_text(agent_id, "agent_id");
        const std::string period_text = any_text(period, "period");
        return to_python(call(&MeteringStore::aggregate, agent, period_text));
    }

    std::uint64_t record_queued(py::handle event, LoopQueue& queue) {
        return queue.submit<Nothing>(
            [&, native = usage_event_from_python(event)](auto done) mutable {
                store_->record_queued(std::move(native), std::move(done));
            });
    }
    std::uint64_t query_queued(py::handle agent_id, py::handle start, py::handle end,
                               py::handle limit, py::handle offset, LoopQueue& queue) {
        return queue.submit<std::vector<UsageEvent>>(
            [&, q = query_arguments(agent_id, start, end, limit, offset)](auto done) mutable {
                store_->query_queued(std::move(q.agent), q.start, q.end, q.page, std::move(done));
            });
    }
    std::uint64_t aggregate_queued(py::handle agent_id, py::handle period, LoopQueue& queue) {
        return queue.submit<UsageAggregate>(
            [&, agent = any_text(agent_id, "agent_id"),
             period_text = any_text(period, "period")](auto done) mutable {
                store_->aggregate_queued(std::move(agent), std::move(period_text), std::move(done));
            });
    }

private:
    struct Query {
        std::string agent;
        InstantMicros start;
        InstantMicros end;
        QueryPage page;
    };
    static Query query_arguments(py::handle agent_id, py::handle start, py::handle end,
                                 py::handle limit, py::handle offset) {
        Query q{any_text(agent_id, "agent_id"), instant_of(start, "start"), instant_of(end, "end"),
                QueryPage{}};
        // asap-protocol's stores take True and False as 1 and 0 here (sqlite3 binds them so).
        auto count = [](py::handle value, const char* what) -> std::int64_t {
            if (PyBool_Check(value.ptr())) return value.ptr() == Py_True ? 1 : 0;
            return int64_argument(value, what);
        };
        if (!limit.is_none()) q.page.limit = count(limit, "limit");
        q.page.offset = count(offset, "offset");
        if (q.page.offset < 0) throw py::value_error("offset must be non-negative");
        return q;
    }
};

// The SQL repository on a SQLite store's own engine (its connections and threads).
template <typename Sqlite, typename Binding>
py::object sql_repository(const Binding& binding) {
    auto* sqlite = dynamic_cast<Sqlite*>(binding.core().get());
    if (sqlite == nullptr) throw py::type_error("only a SQLite store runs SQL here");
    return repository_on(sqlite->engine());
}

// Maintenance (checks, backups, retention) on a SQLite store's own engine.
template <typename Sqlite, typename Binding>
py::object maintenance(const Binding& binding) {
    auto* sqlite = dynamic_cast<Sqlite*>(binding.core().get());
    if (sqlite == nullptr) throw py::type_error("an in-memory store has no database file");
    return maintenance_on(sqlite->engine());
}

}  // namespace

void register_stores(py::module_& m) {
    register_store_methods(
        py::class_<NativeSnapshotStore>(
            m, "NativeSnapshotStore", "A core SnapshotStore; use asap_native.SQLiteSnapshotStore."))
        .def("save", &NativeSnapshotStore::save, py::arg("snapshot"))
        .def("get", &NativeSnapshotStore::get, py::arg("task_id"), py::arg("version") = py::none())
        .def("list_versions", &NativeSnapshotStore::list_versions, py::arg("task_id"))
        .def("delete", &NativeSnapshotStore::remove, py::arg("task_id"),
             py::arg("version") = py::none())
        .def("save_queued", &NativeSnapshotStore::save_queued, py::arg("snapshot"),
             py::arg("queue"))
        .def("get_queued", &NativeSnapshotStore::get_queued, py::arg("task_id"), py::arg("version"),
             py::arg("queue"))
        .def("list_versions_queued", &NativeSnapshotStore::list_versions_queued, py::arg("task_id"),
             py::arg("queue"))
        .def("delete_queued", &NativeSnapshotStore::remove_queued, py::arg("task_id"),
             py::arg("version"), py::arg("queue"))
        .def("sql_repository", &sql_repository<SqliteSnapshotStore, NativeSnapshotStore>)
        .def("maintenance", &maintenance<SqliteSnapshotStore, NativeSnapshotStore>);

    register_store_methods(
        py::class_<NativeMeteringStore>(
            m, "NativeMeteringStore", "A core MeteringStore; use asap_native.SQLiteMeteringStore."))
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
        .def("sql_repository", &sql_repository<SqliteMeteringStore, NativeMeteringStore>)
        .def("maintenance", &maintenance<SqliteMeteringStore, NativeMeteringStore>)
        .def(
            "_explain_query",
            [](NativeMeteringStore& binding, py::handle agent_id, py::handle start,
               py::handle end) {
                auto* sqlite = dynamic_cast<SqliteMeteringStore*>(binding.core().get());
                if (sqlite == nullptr) throw py::type_error("an in-memory store runs no SQL");
                const std::string agent = any_text(agent_id, "agent_id");
                const InstantMicros from = instant_of(start, "start");
                const InstantMicros to = instant_of(end, "end");
                const std::vector<std::string> plan = without_gil(
                    [&] { return sqlite->explain_query(agent, from, to, QueryPage{}); });
                py::list lines;
                for (const std::string& line : plan) lines.append(py::str(line));
                return lines;
            },
            py::arg("agent_id"), py::arg("start"), py::arg("end"));

    m.def(
        "open_sqlite_snapshot_store",
        [](py::handle path, const std::string& durability, double timeout) {
            return NativeSnapshotStore(open_sqlite<SqliteSnapshotStore>(path, durability, timeout));
        },
        py::arg("db_path"), py::arg("durability"), py::arg("timeout"));
    m.def("open_memory_snapshot_store",
          [] { return NativeSnapshotStore(std::make_shared<MemorySnapshotStore>()); });
    m.def(
        "open_sqlite_metering_store",
        [](py::handle path, const std::string& durability, double timeout, bool instant_index) {
            const std::string text = path_argument(path, "db_path");
            const auto options = connection_options(durability, timeout);
            return NativeMeteringStore(without_gil([&] {
                return std::make_shared<SqliteMeteringStore>(text, options,
                                                             MeteringOptions{instant_index});
            }));
        },
        py::arg("db_path"), py::arg("durability"), py::arg("timeout"),
        py::arg("instant_index") = false);
    m.def(
        "snapshot_from_row",
        [](std::string task_id, std::string id, std::int64_t version, std::string data_json,
           bool checkpoint, std::string created_at) {
            return to_python(Snapshot{std::move(task_id), std::move(id), version,
                                      std::move(data_json), checkpoint, std::move(created_at)});
        },
        py::arg("task_id"), py::arg("id"), py::arg("version"), py::arg("data"),
        py::arg("checkpoint"), py::arg("created_at"),
        "The snapshot model of a `snapshots` row, read as the stores read it.");
    m.def("open_memory_metering_store",
          [] { return NativeMeteringStore(std::make_shared<MemoryMeteringStore>()); });
    m.def(
        "open_postgres_snapshot_store",
        [](py::handle dsn, double timeout, int max_connections) {
            return NativeSnapshotStore(open_postgres<SnapshotStore>(dsn, timeout, max_connections));
        },
        py::arg("dsn"), py::arg("timeout"), py::arg("max_connections"));
    m.def(
        "open_postgres_metering_store",
        [](py::handle dsn, double timeout, int max_connections) {
            return NativeMeteringStore(open_postgres<MeteringStore>(dsn, timeout, max_connections));
        },
        py::arg("dsn"), py::arg("timeout"), py::arg("max_connections"));
}

}  // namespace asap_native::bindings
