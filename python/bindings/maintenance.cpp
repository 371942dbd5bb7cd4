#include "maintenance.hpp"

#include <optional>
#include <string>
#include <vector>

#include "arguments.hpp"
#include "asap_native/errors.hpp"
#include "asap_native/retention.hpp"
#include "asap_native/sqlite/maintenance.hpp"
#include "asap_native/sqlite/statement.hpp"
#include "asap_native/usage_index.hpp"
#include "completions.hpp"
#include "gil.hpp"
#include "stats.hpp"
#include "stores.hpp"

namespace py = pybind11;

namespace asap_native::bindings {

// Results of queued maintenance calls; to_python is found by argument-dependent lookup.
struct DeletedRows {
    std::int64_t rows = 0;
};
struct CheckOutcome {
    std::vector<std::string> integrity;
    sqlite::SchemaReport schema;
};

py::object to_python(const DeletedRows& deleted) { return py::int_(deleted.rows); }

namespace {
py::list string_list(const std::vector<std::string>& items) {
    py::list out;
    for (const std::string& item : items) out.append(py::str(item));
    return out;
}
}  // namespace

py::object to_python(const CheckOutcome& outcome) {
    py::dict out;
    out["integrity_errors"] = string_list(outcome.integrity);
    out["schema_problems"] = string_list(outcome.schema.problems);
    out["schema_notes"] = string_list(outcome.schema.notes);
    return std::move(out);
}

namespace {

CheckOutcome check_on(sqlite::Connection& connection, bool quick, int max_errors) {
    CheckOutcome outcome;
    outcome.integrity = sqlite::integrity_errors(connection, quick, max_errors);
    outcome.schema = sqlite::asap_schema_report(connection);
    return outcome;
}

// One retention rule, stepped from Python: step() now, or step_queued() as a queued write.
class NativeRetention {
public:
    NativeRetention(std::shared_ptr<SqliteEngine> engine, std::shared_ptr<RetentionJob> job)
        : engine_(std::move(engine)), job_(std::move(job)) {}

    std::int64_t step() {
        return without_gil([&] { return run_retention_step(*engine_, *job_); });
    }
    std::uint64_t step_queued(LoopQueue& queue) {
        return queue.submit<DeletedRows>([&](auto done) {
            run_retention_step_queued(
                *engine_, job_,
                [done = std::move(done)](std::int64_t rows, std::exception_ptr error) mutable {
                    done(DeletedRows{rows}, std::move(error));
                });
        });
    }
    std::int64_t count_remaining() {
        return without_gil([&] {
            return engine_->read(StoreOperation::Check,
                                 [&](sqlite::Connection& c) { return job_->count_remaining(c); });
        });
    }
    bool done() const { return job_->done(); }
    std::int64_t deleted() const { return job_->deleted(); }

private:
    std::shared_ptr<SqliteEngine> engine_;
    std::shared_ptr<RetentionJob> job_;
};

class NativeMaintenance {
public:
    NativeMaintenance(std::shared_ptr<SqliteEngine> engine, bool owns)
        : engine_(std::move(engine)), owns_(owns) {}

    py::dict info() {
        const sqlite::DatabaseInfo info = without_gil([&] {
            return engine_->read(StoreOperation::Check,
                                 [&](sqlite::Connection& c) { return sqlite::database_info(c); });
        });
        py::dict tables;
        for (const auto& table : info.tables) tables[py::str(table.name)] = table.rows;
        py::dict out;
        out["tables"] = tables;
        out["indexes"] = string_list(info.indexes);
        out["page_size"] = info.page_size;
        out["page_count"] = info.page_count;
        out["freelist_pages"] = info.freelist_pages;
        out["journal_mode"] = info.journal_mode;
        return out;
    }

    py::dict schema() {
        const sqlite::SchemaReport report = without_gil([&] {
            return engine_->read(StoreOperation::Check, [&](sqlite::Connection& c) {
                return sqlite::asap_schema_report(c);
            });
        });
        py::dict out;
        out["problems"] = string_list(report.problems);
        out["notes"] = string_list(report.notes);
        return out;
    }

    py::object check(bool quick, int max_errors) {
        return to_python(without_gil([&] {
            return engine_->read(StoreOperation::Check, [&](sqlite::Connection& c) {
                return check_on(c, quick, max_errors);
            });
        }));
    }
    std::uint64_t check_queued(bool quick, int max_errors, LoopQueue& queue) {
        return queue.submit<CheckOutcome>([&](auto done) {
            engine_->read_queued(
                StoreOperation::Check, "asap_native:maintenance",
                [quick, max_errors](sqlite::Connection& c) {
                    return check_on(c, quick, max_errors);
                },
                std::move(done));
        });
    }

    void backup(py::handle dest, int pages_per_step, py::object progress) {
        const std::string path = path_argument(dest, "dest");
        std::optional<py::error_already_set> progress_error;
        sqlite::BackupProgress report;
        if (!progress.is_none()) {
            report = [&](std::int64_t copied, std::int64_t total) {
                py::gil_scoped_acquire gil;
                try {
                    progress(copied, total);
                } catch (py::error_already_set& error) {
                    progress_error.emplace(std::move(error));
                    throw StoreError(StoreErrorKind::Other, 0,
                                     "backup stopped by its progress callback");
                }
            };
        }
        try {
            without_gil([&] {
                engine_->read(StoreOperation::Backup, [&](sqlite::Connection& c) {
                    sqlite::backup_database(c, path, pages_per_step, report);
                });
            });
        } catch (...) {
            if (progress_error) throw std::move(*progress_error);
            throw;
        }
    }
    std::uint64_t backup_queued(py::handle dest, int pages_per_step, LoopQueue& queue) {
        return queue.submit<Nothing>([&, path = path_argument(dest, "dest")](auto done) {
            engine_->read_queued(
                StoreOperation::Backup, "asap_native:maintenance",
                [path, pages_per_step](sqlite::Connection& c) {
                    sqlite::backup_database(c, path, pages_per_step, {});
                },
                std::move(done));
        });
    }

    NativeRetention snapshot_retention(py::handle task_id, std::int64_t keep_last,
                                       std::int64_t chunk_rows) {
        std::optional<std::string> task;
        if (!task_id.is_none()) task = any_text(task_id, "task_id");
        return NativeRetention(
            engine_, asap_native::snapshot_retention(std::move(task), keep_last, chunk_rows));
    }
    NativeRetention usage_retention(py::handle before, std::int64_t chunk_rows) {
        return NativeRetention(
            engine_, asap_native::usage_retention(instant_of(before, "before"), chunk_rows));
    }

    // A page of snapshot rows after (task_id, version), in that order: (task_id, version, id,
    // data as stored, checkpoint, created_at), for export.
    py::list snapshot_rows(py::handle task_id, py::handle after_task, std::int64_t after_version,
                           std::int64_t limit) {
        std::optional<std::string> only;
        if (!task_id.is_none()) only = any_text(task_id, "task_id");
        std::optional<std::string> after;
        if (!after_task.is_none()) after = any_text(after_task, "after_task");
        struct Row {
            std::string task_id, id, data, created_at;
            std::int64_t version;
            bool checkpoint;
        };
        const std::vector<Row> rows = without_gil([&] {
            return engine_->database().with_reader([&](sqlite::Connection& c) {
                std::vector<Row> out;
                const std::string columns =
                    "SELECT task_id, version, id, data, checkpoint, created_at FROM snapshots ";
                std::string sql;
                if (only)
                    sql = columns + "WHERE task_id = ?1 AND version > ?3 ORDER BY version LIMIT ?4";
                else if (after)
                    sql = columns +
                          "WHERE task_id >= ?2 AND (task_id > ?2 OR version > ?3) "
                          "ORDER BY task_id, version LIMIT ?4";
                else
                    sql = columns + "ORDER BY task_id, version LIMIT ?4";
                sqlite::Statement::Use select(c.statement(sql));
                if (only) select->bind_no_copy(1, *only);
                if (after) select->bind_no_copy(2, *after);
                select->bind(3, after_version);
                select->bind(4, limit);
                while (select->step())
                    out.push_back(Row{
                        std::string(select->column_text(0)), std::string(select->column_text(2)),
                        std::string(select->column_text(3)), std::string(select->column_text(5)),
                        select->column_int64(1), select->column_int64(4) != 0});
                return out;
            });
        });
        py::list out;
        for (const Row& row : rows)
            out.append(py::make_tuple(row.task_id, row.version, row.id, row.data,
                                      py::bool_(row.checkpoint), row.created_at));
        return out;
    }

    bool instant_index(bool present) {
        return without_gil([&] {
            return engine_->write(StoreOperation::Check, [&](sqlite::Connection& c) {
                return set_instant_index(c, present);
            });
        });
    }

    py::dict stats() const { return stats_to_dict(engine_->stats()); }
    void close() {
        closed_ = true;
        if (owns_) without_gil([&] { engine_->close(); });
    }
    bool closed() const { return closed_ || engine_->is_closed(); }

private:
    std::shared_ptr<SqliteEngine> engine_;
    bool owns_;
    bool closed_ = false;
};

}  // namespace

py::object maintenance_on(std::shared_ptr<SqliteEngine> engine) {
    return py::cast(NativeMaintenance(std::move(engine), false));
}

void register_maintenance(py::module_& m) {
    py::class_<NativeRetention>(m, "NativeRetention",
                                "A retention rule, deleted a bounded chunk per step.")
        .def("step", &NativeRetention::step)
        .def("step_queued", &NativeRetention::step_queued, py::arg("queue"))
        .def("count_remaining", &NativeRetention::count_remaining)
        .def_property_readonly("done", &NativeRetention::done)
        .def_property_readonly("deleted", &NativeRetention::deleted);

    py::class_<NativeMaintenance>(m, "NativeMaintenance",
                                  "Figures, checks, backups and retention of a SQLite file.")
        .def("info", &NativeMaintenance::info)
        .def("schema", &NativeMaintenance::schema)
        .def("check", &NativeMaintenance::check, py::arg("quick"), py::arg("max_errors"))
        .def("check_queued", &NativeMaintenance::check_queued, py::arg("quick"),
             py::arg("max_errors"), py::arg("queue"))
        .def("backup", &NativeMaintenance::backup, py::arg("dest"), py::arg("pages_per_step"),
             py::arg("progress"))
        .def("backup_queued", &NativeMaintenance::backup_queued, py::arg("dest"),
             py::arg("pages_per_step"), py::arg("queue"))
        .def("snapshot_retention", &NativeMaintenance::snapshot_retention, py::arg("task_id"),
             py::arg("keep_last"), py::arg("chunk_rows"))
        .def("usage_retention", &NativeMaintenance::usage_retention, py::arg("before"),
             py::arg("chunk_rows"))
        .def("snapshot_rows", &NativeMaintenance::snapshot_rows, py::arg("task_id"),
             py::arg("after_task"), py::arg("after_version"), py::arg("limit"))
        .def("instant_index", &NativeMaintenance::instant_index, py::arg("present"))
        .def("stats", &NativeMaintenance::stats)
        .def("close", &NativeMaintenance::close)
        .def_property_readonly("closed", &NativeMaintenance::closed);

    m.def(
        "open_sqlite_maintenance",
        [](py::handle path, const std::string& durability, double timeout, bool read_only) {
            const std::string text = path_argument(path, "db_path");
            auto options = connection_options(durability, timeout);
            options.read_only = read_only;
            return NativeMaintenance(without_gil([&] { return open_sqlite_engine(text, options); }),
                                     true);
        },
        py::arg("db_path"), py::arg("durability"), py::arg("timeout"), py::arg("read_only"));
}

}  // namespace asap_native::bindings
