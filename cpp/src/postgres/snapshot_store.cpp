#include <memory>

#include "asap_native/errors.hpp"
#include "asap_native/postgres/params.hpp"
#include "asap_native/postgres_snapshot_store.hpp"
#include "asap_native/timestamp.hpp"

namespace asap_native {
namespace {

// Version 1. `data_text` and `created_at_text` are what was saved, returned byte for byte (key
// order, number spelling, the UTC offset); `data` (jsonb) and `created_at` (timestamptz) are the
// same values for SQL. asap_native_try_jsonb is for copies of rows written by other programs.
constexpr const char* kMigration1 = R"sql(
CREATE TABLE snapshots (
    task_id text NOT NULL,
    version bigint NOT NULL,
    id text NOT NULL,
    data jsonb,
    data_text text NOT NULL,
    checkpoint boolean NOT NULL,
    created_at timestamptz NOT NULL,
    created_at_text text NOT NULL,
    PRIMARY KEY (task_id, version)
);
COMMENT ON TABLE snapshots IS 'asap_native snapshots: one row per task version';
COMMENT ON COLUMN snapshots.data IS
    'data_text as jsonb; NULL when jsonb cannot hold it (\u0000 in a string, NaN, not JSON)';
COMMENT ON COLUMN snapshots.data_text IS 'the JSON text as saved, returned byte for byte';
COMMENT ON COLUMN snapshots.created_at_text IS 'created_at as saved (ISO-8601, its own offset)';
CREATE OR REPLACE FUNCTION asap_native_try_jsonb(document text) RETURNS jsonb
    LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS
$$BEGIN RETURN document::jsonb; EXCEPTION WHEN others THEN RETURN NULL; END$$;
)sql";

enum Statement {
    kSave,
    kSaveWithoutJsonb,
    kGetVersion,
    kGetLatest,
    kListVersions,
    kDelete,
    kDeleteTask
};

constexpr const char* kUpsertTail =
    " ON CONFLICT (task_id, version) DO UPDATE SET id = EXCLUDED.id, data = EXCLUDED.data, "
    "data_text = EXCLUDED.data_text, checkpoint = EXCLUDED.checkpoint, "
    "created_at = EXCLUDED.created_at, created_at_text = EXCLUDED.created_at_text";
constexpr const char* kColumns =
    "SELECT task_id, id, version, data_text, checkpoint, created_at_text FROM snapshots ";

pg::Statements statements() {
    const std::vector<unsigned> save_types{pg::oid::kText, pg::oid::kInt8, pg::oid::kText,
                                           pg::oid::kText, pg::oid::kBool, pg::oid::kTimestamptz,
                                           pg::oid::kText};
    const std::string insert =
        "INSERT INTO snapshots (task_id, version, id, data, data_text, checkpoint, created_at, "
        "created_at_text) VALUES ($1, $2, $3, ";
    return {
        {insert + "$4::jsonb, $4, $5, $6, $7)" + kUpsertTail, save_types},
        {insert + "NULL, $4, $5, $6, $7)" + kUpsertTail, save_types},
        {std::string(kColumns) + "WHERE task_id = $1 AND version = $2",
         {pg::oid::kText, pg::oid::kInt8}},
        {std::string(kColumns) + "WHERE task_id = $1 ORDER BY version DESC LIMIT 1",
         {pg::oid::kText}},
        {"SELECT version FROM snapshots WHERE task_id = $1 ORDER BY version", {pg::oid::kText}},
        {"DELETE FROM snapshots WHERE task_id = $1 AND version = $2",
         {pg::oid::kText, pg::oid::kInt8}},
        {"DELETE FROM snapshots WHERE task_id = $1", {pg::oid::kText}},
    };
}

// Binds what selects a task's rows: $1 task_id, $2 version when given. Any task id and version
// are keys, as in asap-protocol; only a NUL cannot be PostgreSQL text.
void bind_task(pg::Params& params, const std::string& task_id,
               std::optional<std::int64_t> version) {
    params.text(task_id, "task_id");
    if (version) params.int64(*version);
}

}  // namespace

void PostgresSnapshotSql::save(pg::Connection& connection, const Snapshot& snapshot) {
    validate_snapshot(snapshot);
    const InstantMicros created =
        parse_iso8601_or_throw(snapshot.created_at, "snapshot created_at");
    pg::Params params;
    params.text(snapshot.task_id, "task_id")
        .int64(snapshot.version)
        .text(snapshot.id, "snapshot id")
        .text(snapshot.data_json, "snapshot data")
        .boolean(snapshot.checkpoint)
        .timestamptz(created)
        .text(snapshot.created_at, "snapshot created_at");
    connection.send(jsonb_can_hold(snapshot.data_json) ? kSave : kSaveWithoutJsonb, params);
}

std::optional<Snapshot> PostgresSnapshotSql::get(pg::Connection& connection,
                                                 const std::string& task_id,
                                                 std::optional<std::int64_t> version) {
    pg::Params params;
    bind_task(params, task_id, version);
    const pg::Result rows = connection.query(version ? kGetVersion : kGetLatest, params);
    if (rows.rows() == 0) return std::nullopt;
    Snapshot snapshot;
    snapshot.task_id = rows.string(0, 0);
    snapshot.id = rows.string(0, 1);
    snapshot.version = rows.int64(0, 2);
    snapshot.data_json = rows.string(0, 3);
    snapshot.checkpoint = rows.boolean(0, 4);
    snapshot.created_at = rows.string(0, 5);
    return snapshot;
}

std::vector<std::int64_t> PostgresSnapshotSql::list_versions(pg::Connection& connection,
                                                             const std::string& task_id) {
    pg::Params params;
    bind_task(params, task_id, std::nullopt);
    const pg::Result rows = connection.query(kListVersions, params);
    std::vector<std::int64_t> versions;
    versions.reserve(static_cast<std::size_t>(rows.rows()));
    for (int i = 0; i < rows.rows(); ++i) versions.push_back(rows.int64(i, 0));
    return versions;
}

std::shared_ptr<bool> PostgresSnapshotSql::remove(pg::Connection& connection,
                                                  const std::string& task_id,
                                                  std::optional<std::int64_t> version) {
    pg::Params params;
    bind_task(params, task_id, version);
    auto removed = std::make_shared<bool>(false);
    connection.send(version ? kDelete : kDeleteTask, params,
                    [removed](pg::Result& result) { *removed = result.affected_rows() > 0; });
    return removed;
}

PostgresSnapshotStore::PostgresSnapshotStore(pg::ConnectOptions options, int max_connections)
    : EngineSnapshotStore(open_postgres_engine(std::move(options),
                                               pg::Schema{"snapshots", {kMigration1}}, statements(),
                                               max_connections)) {}

template class EngineSnapshotStore<pg::Database, PostgresSnapshotSql>;

}  // namespace asap_native
