// Snapshot store backed by SQLite, file-compatible with asap-protocol's SQLiteSnapshotStore.
#pragma once

#include <memory>
#include <string>

#include "asap_native/snapshot_store.hpp"
#include "asap_native/sqlite/connection.hpp"

namespace asap_native {

namespace sqlite {
class Database;
}

/// SnapshotStore on a SQLite file (or ":memory:") using asap-protocol's `snapshots` table.
class SqliteSnapshotStore final : public SnapshotStore {
public:
    /// Opens or creates the database and the table. Throws InvalidArgument or StoreError.
    explicit SqliteSnapshotStore(const std::string& path, sqlite::ConnectionOptions options = {});
    ~SqliteSnapshotStore() override;

    void save(const Snapshot& snapshot) override;
    std::optional<Snapshot> get(const std::string& task_id,
                                std::optional<std::int64_t> version) override;
    std::vector<std::int64_t> list_versions(const std::string& task_id) override;
    bool remove(const std::string& task_id, std::optional<std::int64_t> version) override;

    /// Closes every connection; later calls throw StoreError(Closed).
    void close();
    /// True once close() has run.
    bool is_closed() const;
    /// The connections this store uses.
    sqlite::Database& database() { return *database_; }

private:
    std::unique_ptr<sqlite::Database> database_;
};

}  // namespace asap_native
