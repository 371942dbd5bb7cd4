// Snapshot store backed by SQLite, file-compatible with asap-protocol's SQLiteSnapshotStore.
#pragma once

#include <memory>
#include <string>

#include "asap_native/snapshot_store.hpp"
#include "asap_native/sqlite/connection.hpp"
#include "asap_native/sqlite_store.hpp"

namespace asap_native {

/// SnapshotStore on a SQLite file (or ":memory:") using asap-protocol's `snapshots` table.
/// Queued calls run on the store's threads: writes group-committed, reads on reader
/// connections after the queued writes of their task.
class SqliteSnapshotStore final : public SqliteStore<SnapshotStore> {
public:
    /// Opens or creates the database and the table. Throws InvalidArgument or StoreError.
    explicit SqliteSnapshotStore(const std::string& path, sqlite::ConnectionOptions options = {});
    /// The store on an engine other stores of the file use too; creates the table if missing.
    explicit SqliteSnapshotStore(std::shared_ptr<SqliteEngine> engine);

    void save(const Snapshot& snapshot) override;
    std::optional<Snapshot> get(const std::string& task_id,
                                std::optional<std::int64_t> version) override;
    std::vector<std::int64_t> list_versions(const std::string& task_id) override;
    bool remove(const std::string& task_id, std::optional<std::int64_t> version) override;

    void save_queued(Snapshot snapshot, Done<Nothing> done) override;
    void get_queued(std::string task_id, std::optional<std::int64_t> version,
                    Done<std::optional<Snapshot>> done) override;
    void list_versions_queued(std::string task_id, Done<std::vector<std::int64_t>> done) override;
    void remove_queued(std::string task_id, std::optional<std::int64_t> version,
                       Done<bool> done) override;
};

}  // namespace asap_native
