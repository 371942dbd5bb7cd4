#include "asap_native/sqlite_snapshot_store.hpp"

#include "asap_native/executor.hpp"
#include "asap_native/sqlite/database.hpp"
#include "asap_native/sqlite/statement.hpp"

namespace asap_native {
namespace {

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

// The SQL of each operation, shared by the direct and the queued API.

void save_on(sqlite::Connection& connection, const Snapshot& snapshot) {
    sqlite::Statement::Use insert(connection.statement(kSave));
    insert->bind(1, snapshot.task_id);
    insert->bind(2, snapshot.id);
    insert->bind(3, snapshot.version);
    insert->bind(4, snapshot.data_json);
    insert->bind(5, std::int64_t{snapshot.checkpoint ? 1 : 0});
    insert->bind(6, snapshot.created_at);
    insert->run();
}

std::optional<Snapshot> get_on(sqlite::Connection& connection, const std::string& task_id,
                               std::optional<std::int64_t> version) {
    sqlite::Statement::Use select(connection.statement(version ? kGetVersion : kGetLatest));
    select->bind(1, task_id);
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

std::vector<std::int64_t> list_versions_on(sqlite::Connection& connection,
                                           const std::string& task_id) {
    sqlite::Statement::Use select(connection.statement(kListVersions));
    select->bind(1, task_id);
    std::vector<std::int64_t> versions;
    while (select->step()) versions.push_back(select->column_int64(0));
    return versions;
}

bool remove_on(sqlite::Connection& connection, const std::string& task_id,
               std::optional<std::int64_t> version) {
    sqlite::Statement::Use remove(connection.statement(version ? kDeleteVersion : kDeleteTask));
    remove->bind(1, task_id);
    if (version) remove->bind(2, *version);
    remove->run();
    return connection.changes() > 0;
}

}  // namespace

namespace {

sqlite::ConnectionOptions counting_busy_waits(sqlite::ConnectionOptions options, StoreStats& stats) {
    options.busy_wait_counter = stats.busy_wait_counter();
    return options;
}

}  // namespace

SqliteSnapshotStore::SqliteSnapshotStore(const std::string& path,
                                         sqlite::ConnectionOptions options)
    : database_(std::make_unique<sqlite::Database>(path, counting_busy_waits(options, stats_),
                                                   kSchema)),
      executor_(std::make_unique<Executor>(*database_, 0, 1024, &stats_)) {}

SqliteSnapshotStore::~SqliteSnapshotStore() { executor_->shutdown(); }

void SqliteSnapshotStore::save(const Snapshot& snapshot) {
    stats_.measure(StoreOperation::Save, [&] {
        validate_snapshot(snapshot);
        database_->with_writer([&](sqlite::Connection& c) { save_on(c, snapshot); });
    });
}

std::optional<Snapshot> SqliteSnapshotStore::get(const std::string& task_id,
                                                 std::optional<std::int64_t> version) {
    return stats_.measure(StoreOperation::Get, [&] {
        validate_task_key(task_id, version ? &*version : nullptr);
        return database_->with_reader(
            [&](sqlite::Connection& c) { return get_on(c, task_id, version); });
    });
}

std::vector<std::int64_t> SqliteSnapshotStore::list_versions(const std::string& task_id) {
    return stats_.measure(StoreOperation::ListVersions, [&] {
        validate_task_key(task_id, nullptr);
        return database_->with_reader(
            [&](sqlite::Connection& c) { return list_versions_on(c, task_id); });
    });
}

bool SqliteSnapshotStore::remove(const std::string& task_id, std::optional<std::int64_t> version) {
    return stats_.measure(StoreOperation::Delete, [&] {
        validate_task_key(task_id, version ? &*version : nullptr);
        return database_->with_writer(
            [&](sqlite::Connection& c) { return remove_on(c, task_id, version); });
    });
}

// Queued calls are counted when they complete, with the time from submission; a call
// rejected at submission is counted as an error at once.

void SqliteSnapshotStore::save_queued(Snapshot snapshot, SaveDone done) {
    stats_.measure_submission(StoreOperation::Save, [&](StoreStats::Completion completed) {
        validate_snapshot(snapshot);
        const std::string key = snapshot.task_id;
        auto shared = std::make_shared<Snapshot>(std::move(snapshot));
        executor_->submit_write(
            key, Job{[shared](sqlite::Connection& c) { save_on(c, *shared); },
                     [completed, done = std::move(done)](std::exception_ptr error) {
                         completed(error);
                         done(error);
                     }});
    });
}

void SqliteSnapshotStore::get_queued(std::string task_id, std::optional<std::int64_t> version,
                                     GetDone done) {
    stats_.measure_submission(StoreOperation::Get, [&](StoreStats::Completion completed) {
        validate_task_key(task_id, version ? &*version : nullptr);
        auto result = std::make_shared<std::optional<Snapshot>>();
        const std::string key = task_id;
        executor_->submit_read(
            key, Job{[result, task_id = std::move(task_id), version](sqlite::Connection& c) {
                         *result = get_on(c, task_id, version);
                     },
                     [result, completed, done = std::move(done)](std::exception_ptr error) {
                         completed(error);
                         done(std::move(*result), error);
                     }});
    });
}

void SqliteSnapshotStore::list_versions_queued(std::string task_id, ListDone done) {
    stats_.measure_submission(StoreOperation::ListVersions, [&](StoreStats::Completion completed) {
        validate_task_key(task_id, nullptr);
        auto result = std::make_shared<std::vector<std::int64_t>>();
        const std::string key = task_id;
        executor_->submit_read(
            key, Job{[result, task_id = std::move(task_id)](sqlite::Connection& c) {
                         *result = list_versions_on(c, task_id);
                     },
                     [result, completed, done = std::move(done)](std::exception_ptr error) {
                         completed(error);
                         done(std::move(*result), error);
                     }});
    });
}

void SqliteSnapshotStore::remove_queued(std::string task_id, std::optional<std::int64_t> version,
                                        RemoveDone done) {
    stats_.measure_submission(StoreOperation::Delete, [&](StoreStats::Completion completed) {
        validate_task_key(task_id, version ? &*version : nullptr);
        auto removed = std::make_shared<bool>(false);
        const std::string key = task_id;
        executor_->submit_write(
            key, Job{[removed, task_id = std::move(task_id), version](sqlite::Connection& c) {
                         *removed = remove_on(c, task_id, version);
                     },
                     [removed, completed, done = std::move(done)](std::exception_ptr error) {
                         completed(error);
                         // A remove rolled back with its batch deleted nothing.
                         done(error ? false : *removed, error);
                     }});
    });
}

ExecutorStats SqliteSnapshotStore::executor_stats() const { return executor_->stats(); }

void SqliteSnapshotStore::close() {
    executor_->shutdown();
    database_->close();
}

bool SqliteSnapshotStore::is_closed() const { return database_->is_closed(); }

}  // namespace asap_native
