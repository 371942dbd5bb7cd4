#include "repository.hpp"

#include <pybind11/stl.h>

#include <cstdint>
#include <memory>
#include <optional>

#include "arguments.hpp"
#include "asap_native/sqlite_repository.hpp"
#include "completions.hpp"
#include "gil.hpp"
#include "sql_values.hpp"
#include "stats.hpp"
#include "stores.hpp"

namespace py = pybind11;

namespace asap_native::bindings {
namespace {

// The caller's last inserted rowid, for a statement's lastrowid (see SqlParameters).
using LastRowid = std::optional<std::int64_t>;

// The repository binding: sync calls, queued calls and sessions.
class NativeRepository : public NativeStore<SqliteRepository> {
public:
    using NativeStore::NativeStore;

    py::object execute(const std::string& sql, py::handle parameters) {
        const SqlParameters values = sql_parameters(parameters, sql);
        return to_python_now(without_gil([&] { return store_->execute(sql, values); }));
    }
    py::object fetch(const std::string& sql, py::handle parameters) {
        const SqlParameters values = sql_parameters(parameters, sql);
        return to_python_now(without_gil([&] { return store_->fetch(sql, values); }));
    }
    std::uint64_t execute_queued(std::string sql, py::handle parameters, LastRowid lastrowid,
                                 LoopQueue& queue) {
        SqlParameters values = sql_parameters(parameters, sql, lastrowid);
        return queue.submit<SqlResult>([&](auto done) {
            store_->execute_queued(std::move(sql), std::move(values), std::move(done));
        });
    }
    std::uint64_t fetch_queued(std::string sql, py::handle parameters, LastRowid lastrowid,
                               LoopQueue& queue) {
        SqlParameters values = sql_parameters(parameters, sql, lastrowid);
        return queue.submit<SqlResult>([&](auto done) {
            store_->fetch_queued(std::move(sql), std::move(values), std::move(done));
        });
    }
    std::uint64_t script_queued(std::string script, LoopQueue& queue) {
        return queue.submit<Nothing>(
            [&](auto done) { store_->script_queued(std::move(script), std::move(done)); });
    }
    std::shared_ptr<SqlSession> open_session(std::string begin) {
        return store_->open_session(std::move(begin));
    }
};

std::uint64_t session_run_queued(SqlSession& session, std::string sql, py::handle parameters,
                                 LastRowid lastrowid, LoopQueue& queue) {
    SqlParameters values = sql_parameters(parameters, sql, lastrowid);
    return queue.submit<SqlResult>(
        [&](auto done) { session.run_queued(std::move(sql), std::move(values), std::move(done)); });
}

}  // namespace

py::object repository_on(std::shared_ptr<SqliteEngine> engine) {
    return py::cast(NativeRepository(std::make_shared<SqliteRepository>(std::move(engine))));
}

void register_repository(py::module_& m) {
    register_store_methods(
        py::class_<NativeRepository>(m, "NativeRepository",
                                     "A SQLite database run by SQL (use asap_native.repository)."))
        .def("execute", &NativeRepository::execute, py::arg("sql"), py::arg("parameters"))
        .def("fetch", &NativeRepository::fetch, py::arg("sql"), py::arg("parameters"))
        .def("execute_queued", &NativeRepository::execute_queued, py::arg("sql"),
             py::arg("parameters"), py::arg("lastrowid"), py::arg("queue"))
        .def("fetch_queued", &NativeRepository::fetch_queued, py::arg("sql"), py::arg("parameters"),
             py::arg("lastrowid"), py::arg("queue"))
        .def("script_queued", &NativeRepository::script_queued, py::arg("script"), py::arg("queue"))
        .def("open_session", &NativeRepository::open_session, py::arg("begin"));

    py::class_<SqlSession, std::shared_ptr<SqlSession>>(
        m, "NativeSession", "A repository's writer connection, held across several calls.")
        .def("run_queued", &session_run_queued, py::arg("sql"), py::arg("parameters"),
             py::arg("lastrowid"), py::arg("queue"))
        .def(
            "script_queued",
            [](SqlSession& session, std::string script, LoopQueue& queue) {
                return queue.submit<Nothing>(
                    [&](auto done) { session.script_queued(std::move(script), std::move(done)); });
            },
            py::arg("script"), py::arg("queue"))
        .def(
            "end_queued",
            [](SqlSession& session, bool commit, LoopQueue& queue) {
                return queue.submit<Nothing>(
                    [&](auto done) { session.end_queued(commit, std::move(done)); });
            },
            py::arg("commit"), py::arg("queue"))
        .def("abandon", &SqlSession::abandon)
        .def_property_readonly("in_transaction", &SqlSession::in_transaction);

    m.def(
        "open_sqlite_repository",
        [](py::handle path, const std::string& durability, double timeout) {
            return NativeRepository(open_sqlite<SqliteRepository>(path, durability, timeout));
        },
        py::arg("db_path"), py::arg("durability"), py::arg("timeout"));
}

}  // namespace asap_native::bindings
