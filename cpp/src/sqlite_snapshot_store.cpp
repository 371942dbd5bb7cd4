#include "asap_native/sqlite_snapshot_store.hpp"

#include <memory>

#include "asap_native/sqlite/statement.hpp"

namespace asap_native {
namespace {

using sqlite::Connection;
using sqlite::Statement;

// Byte for byte asap-protocol's DDL, so either implementation can open the other's file.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS snapshots (
    task_id TEXT NOT NULL,
    id TEXT NOT NULL,
    version INTEGER NOT NULL,
    data TEXT NOT NULL,
    checkpoint INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (task_id, version)
)
)sql";

const std::string kSave =
    "INSERT OR REPLACE INTO snapshots (task_id, id, version, data, checkpoint, created_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
const std::string kGetVersion =
    "SELECT task_id, id, version, data, checkpoint, created_at FROM snapshots "
    "WHERE task_id = ?1 AND version = ?2";
const std::string kGetLatest =
    "SELECT task_id, id, version, data, checkpoint, created_at FROM snapshots "
    "WHERE task_id = ?1 ORDER BY version DESC LIMIT 1";
const std::string kListVersions =
    "SELECT version FROM snapshots WHERE task_id = ?1 ORDER BY version";
const std::string kDeleteVersion = "DELETE FROM snapshots WHERE task_id = ?1 AND version = ?2";
const std::string kDeleteTask = "DELETE FROM snapshots WHERE task_id = ?1";

}  // namespace

void SqliteSnapshotSql::save(Connection& connection, const Snapshot& snapshot) {
    validate_snapshot(snapshot);
    Statement::Use insert(connection.statement(kSave));
    insert->bind_no_copy(1, snapshot.task_id);
    insert->bind_no_copy(2, snapshot.id);
    insert->bind(3, snapshot.version);
    insert->bind_no_copy(4, snapshot.data_json);
    insert->bind(5, std::int64_t{snapshot.checkpoint ? 1 : 0});
    insert->bind_no_copy(6, snapshot.created_at);
    insert->run();
}

std::optional<Snapshot> SqliteSnapshotSql::get(Connection& connection, const std::string& task_id,
                                               std::optional<std::int64_t> version) {
    Statement::Use select(connection.statement(version ? kGetVersion : kGetLatest));
    select->bind_no_copy(1, task_id);
    if (version) select->bind(2, *version);
    if (!select->step()) return std::nullopt;
    Snapshot snapshot;
    snapshot.task_id = select->column_text(0);
    snapshot.id = select->column_text(1);
    snapshot.version = select->column_int64(2);
    snapshot.data_json = select->column_text(3);
    snapshot.checkpoint = select->column_int64(4) != 0;
    snapshot.created_at = select->column_text(5);
    return snapshot;
}

std::vector<std::int64_t> SqliteSnapshotSql::list_versions(Connection& connection,
                                                           const std::string& task_id) {
    Statement::Use select(connection.statement(kListVersions));
    select->bind_no_copy(1, task_id);
    std::vector<std::int64_t> versions;
    while (select->step()) versions.push_back(select->column_int64(0));
    return versions;
}

bool SqliteSnapshotSql::remove(Connection& connection, const std::string& task_id,
                               std::optional<std::int64_t> version) {
    Statement::Use remove(connection.statement(version ? kDeleteVersion : kDeleteTask));
    remove->bind_no_copy(1, task_id);
    if (version) remove->bind(2, *version);
    remove->run();
    return connection.changes() > 0;
}

const char* sqlite_snapshot_schema() { return kSchema; }

SqliteSnapshotStore::SqliteSnapshotStore(const std::string& path, sqlite::ConnectionOptions options)
    : SqliteSnapshotStore(open_sqlite_engine(path, options)) {}

SqliteSnapshotStore::SqliteSnapshotStore(std::shared_ptr<SqliteEngine> engine)
    : EngineSnapshotStore(std::move(engine)) {
    apply_schema(*engine_, sqlite_snapshot_schema());
}

template class EngineSnapshotStore<sqlite::Database, SqliteSnapshotSql>;

}  // namespace asap_native
