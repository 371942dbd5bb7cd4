// Snapshot store backed by SQLite, file-compatible with asap-protocol's SQLiteSnapshotStore.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <string>

#include "asap_native/snapshot_store.hpp"
#include "asap_native/sqlite/connection.hpp"

namespace asap_native {

class Executor;
struct ExecutorStats;
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

    /// Callbacks of the queued API; they run on an executor thread and must not throw.
    using SaveDone = std::function<void(std::exception_ptr)>;
    using GetDone = std::function<void(std::optional<Snapshot>, std::exception_ptr)>;
    using ListDone = std::function<void(std::vector<std::int64_t>, std::exception_ptr)>;
    using RemoveDone = std::function<void(bool, std::exception_ptr)>;

    /// Queues a save on the writer thread (group-committed with other queued writes);
    /// `done` runs once it is committed. Throws at once for invalid input or a closed store.
    void save_queued(Snapshot snapshot, SaveDone done);
    /// Queues a get on a reader thread (after queued writes of the same task).
    void get_queued(std::string task_id, std::optional<std::int64_t> version, GetDone done);
    /// Queues a list_versions on a reader thread (after queued writes of the same task).
    void list_versions_queued(std::string task_id, ListDone done);
    /// Queues a remove on the writer thread; `done` runs once it is committed.
    void remove_queued(std::string task_id, std::optional<std::int64_t> version, RemoveDone done);
    /// Group-commit figures of the queued API.
    ExecutorStats executor_stats() const;
    StoreStatsSnapshot stats() const override { return stats_.snapshot(); }

    /// Waits for queued work, then closes every connection; later calls throw StoreError(Closed).
    void close() override;
    bool is_closed() const override;
    /// The connections this store uses.
    sqlite::Database& database() { return *database_; }

private:
    StoreStats stats_;  // declared first: the connections' busy handlers count into it
    std::unique_ptr<sqlite::Database> database_;
    std::unique_ptr<Executor> executor_;  // declared last: stops before the database closes
};

}  // namespace asap_native
