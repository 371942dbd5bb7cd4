#include "postgres.hpp"

#include <chrono>

#include "arguments.hpp"
#include "gil.hpp"

#ifdef ASAP_NATIVE_HAS_POSTGRES
#include "asap_native/postgres/dsn.hpp"
#include "asap_native/postgres/transfer.hpp"
#include "asap_native/postgres_metering_store.hpp"
#include "asap_native/postgres_snapshot_store.hpp"
#endif

namespace py = pybind11;

namespace asap_native::bindings {
namespace {

constexpr bool kAvailable =
#ifdef ASAP_NATIVE_HAS_POSTGRES
    true;
#else
    false;
#endif

[[noreturn]] void unavailable() {
    throw py::import_error(
        "asap_native was built without PostgreSQL support: install libpq (Debian: apt-get "
        "install libpq-dev) and reinstall asap_native");
}

std::string dsn_argument(py::handle dsn) {
    if (!py::isinstance<py::str>(dsn))
        throw py::type_error(std::string("dsn must be a str (a libpq connection string or a "
                                         "postgresql:// URL), not ") +
                             Py_TYPE(dsn.ptr())->tp_name);
    return any_text(dsn, "dsn");
}

#ifdef ASAP_NATIVE_HAS_POSTGRES
pg::ConnectOptions connect_options(py::handle dsn, double timeout) {
    if (!(timeout > 0) || timeout > 86400)
        throw py::value_error("timeout must be more than 0 and at most 86400 seconds");
    pg::ConnectOptions options;
    options.dsn = dsn_argument(dsn);
    options.timeout = std::chrono::milliseconds(
        std::max<std::int64_t>(1, static_cast<std::int64_t>(timeout * 1000)));
    return options;
}

void check_connections(int max_connections) {
    if (max_connections < 0 || max_connections > 1000)
        throw py::value_error("max_connections must be between 1 and 1000 (0: the default)");
}

// The PostgreSQL store that implements a store interface.
template <typename Interface>
struct PostgresStoreOf;
template <>
struct PostgresStoreOf<SnapshotStore> {
    using type = PostgresSnapshotStore;
};
template <>
struct PostgresStoreOf<MeteringStore> {
    using type = PostgresMeteringStore;
};
#endif

enum class CopyDirection { SqliteToPostgres, PostgresToSqlite };

// Copies every snapshot and usage event between the file and the server, without the GIL.
py::tuple copy_stores(CopyDirection direction, py::handle db_path, py::handle dsn, double timeout) {
#ifdef ASAP_NATIVE_HAS_POSTGRES
    const std::string path = path_argument(db_path, "db_path");
    const auto options = connect_options(dsn, timeout);
    const auto counts = without_gil([&] {
        return direction == CopyDirection::SqliteToPostgres
                   ? pg::copy_sqlite_to_postgres(path, options)
                   : pg::copy_postgres_to_sqlite(options, path);
    });
    return py::make_tuple(counts.snapshots, counts.usage_events);
#else
    (void)direction, (void)db_path, (void)dsn, (void)timeout;
    unavailable();
#endif
}

// copy_sqlite_to_postgres(db_path, dsn, timeout) and its reverse: each takes the source first.
struct CopyFunction {
    const char* name;
    CopyDirection direction;
    const char* source;
    const char* destination;
    const char* doc;
};
constexpr CopyFunction kCopyFunctions[] = {
    {"copy_sqlite_to_postgres", CopyDirection::SqliteToPostgres, "db_path", "dsn",
     "Copies every snapshot and usage event of a SQLite file into PostgreSQL: "
     "(snapshots, usage_events)."},
    {"copy_postgres_to_sqlite", CopyDirection::PostgresToSqlite, "dsn", "db_path",
     "Copies every snapshot and usage event of PostgreSQL into a SQLite file: "
     "(snapshots, usage_events)."},
};

}  // namespace

template <typename Interface>
std::shared_ptr<Interface> open_postgres(py::handle dsn, double timeout, int max_connections) {
#ifdef ASAP_NATIVE_HAS_POSTGRES
    auto options = connect_options(dsn, timeout);
    check_connections(max_connections);
    return without_gil([&]() -> std::shared_ptr<Interface> {
        return std::make_shared<typename PostgresStoreOf<Interface>::type>(std::move(options),
                                                                           max_connections);
    });
#else
    (void)dsn, (void)timeout, (void)max_connections;
    unavailable();
#endif
}

template std::shared_ptr<SnapshotStore> open_postgres<SnapshotStore>(py::handle, double, int);
template std::shared_ptr<MeteringStore> open_postgres<MeteringStore>(py::handle, double, int);

void register_postgres(py::module_& m) {
    m.attr("postgres_available") = kAvailable;
    m.def(
        "postgres_describe_dsn",
        [](py::handle dsn) -> std::string {
#ifdef ASAP_NATIVE_HAS_POSTGRES
            return pg::describe_dsn(dsn_argument(dsn));
#else
            (void)dsn;
            unavailable();
#endif
        },
        py::arg("dsn"), "Where a DSN points (host, port, dbname, user), without any secret.");
    for (const CopyFunction& copy : kCopyFunctions) {
        const CopyDirection direction = copy.direction;
        m.def(
            copy.name,
            [direction](py::handle source, py::handle destination, double timeout) {
                const bool from_file = direction == CopyDirection::SqliteToPostgres;
                return copy_stores(direction, from_file ? source : destination,
                                   from_file ? destination : source, timeout);
            },
            py::arg(copy.source), py::arg(copy.destination), py::arg("timeout"), copy.doc);
    }
}

}  // namespace asap_native::bindings
