// Snapshot store backed by SQLite, file-compatible with asap-protocol's SQLiteSnapshotStore.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "asap_native/engine_store.hpp"
#include "asap_native/sqlite/connection.hpp"
#include "asap_native/sqlite_engine.hpp"

namespace asap_native {

/// The snapshot operations on a connection, in asap-protocol's `snapshots` table.
struct SqliteSnapshotSql {
    static void save(sqlite::Connection& connection, const Snapshot& snapshot);
    static std::optional<Snapshot> get(sqlite::Connection& connection, const std::string& task_id,
                                       std::optional<std::int64_t> version);
    static std::vector<std::int64_t> list_versions(sqlite::Connection& connection,
                                                   const std::string& task_id);
    static bool remove(sqlite::Connection& connection, const std::string& task_id,
                       std::optional<std::int64_t> version);
};

/// SnapshotStore on a SQLite file (or ":memory:") using asap-protocol's `snapshots` table.
/// Queued calls run on the store's threads: writes group-committed, reads on reader
/// connections after the queued writes of their task.
class SqliteSnapshotStore final : public EngineSnapshotStore<sqlite::Database, SqliteSnapshotSql> {
public:
    /// Opens or creates the database and the table. Throws InvalidArgument or StoreError.
    explicit SqliteSnapshotStore(const std::string& path, sqlite::ConnectionOptions options = {});
    /// The store on an engine other stores of the file use too; creates the table if missing.
    explicit SqliteSnapshotStore(std::shared_ptr<SqliteEngine> engine);
};

extern template class EngineSnapshotStore<sqlite::Database, SqliteSnapshotSql>;

/// asap-protocol's DDL of the `snapshots` table, byte for byte (IF NOT EXISTS).
const char* sqlite_snapshot_schema();

}  // namespace asap_native
