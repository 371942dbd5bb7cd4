// Snapshot store on PostgreSQL, shared by every process and host that reaches the server.
#pragma once

#include <string>

#include "asap_native/postgres/database.hpp"
#include "asap_native/snapshot_store.hpp"
#include "asap_native/store_engine.hpp"

namespace asap_native {

/// SnapshotStore on a PostgreSQL table `snapshots` (created if missing, versioned: see
/// docs/scaling.md). Same semantics as SqliteSnapshotStore: `data_json` and `created_at` come
/// back byte for byte as saved; `data` is also stored as jsonb (for SQL on it) and `created_at`
/// as timestamptz. Sync calls run on the calling thread on a pooled connection (one round trip,
/// committed on return); queued calls run on the store's threads, writes group-committed in
/// one pipelined transaction.
class PostgresSnapshotStore final : public SnapshotStore {
public:
    /// Connects, creates or migrates the schema. Throws InvalidArgument (bad DSN) or StoreError
    /// (Connection, Authentication, CantOpen...).
    explicit PostgresSnapshotStore(pg::ConnectOptions options, int max_connections = 0);

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

    StoreFigures stats() const override { return engine_.stats(); }
    void close() override { engine_.close(); }
    bool is_closed() const override { return engine_.is_closed(); }
    pg::Database& database() { return engine_.database(); }

private:
    StoreEngine<pg::Database> engine_;
};

/// The schema of the `snapshots` table (docs/scaling.md describes each version).
const pg::Schema& postgres_snapshot_schema();

/// True when PostgreSQL will take `data_json` as a jsonb value: strict JSON (RFC 8259) without
/// what jsonb refuses (the escape \u0000, unpaired surrogate escapes) and within conservative
/// bounds (nesting up to 1000, numbers up to 1000 digits and exponents up to 1000). Documents
/// that fail are stored with `data` NULL; `data_text` keeps them as saved.
bool jsonb_can_hold(std::string_view data_json) noexcept;

}  // namespace asap_native
