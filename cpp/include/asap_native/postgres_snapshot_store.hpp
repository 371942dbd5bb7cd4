// Snapshot store on PostgreSQL, shared by every process and host that reaches the server.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "asap_native/engine_store.hpp"
#include "asap_native/postgres_engine.hpp"

namespace asap_native {

/// The snapshot operations on a pooled connection. `remove` queues its DELETE (pipelined): its
/// cell is set when the result arrives, before the call completes.
struct PostgresSnapshotSql {
    static void save(pg::Connection& connection, const Snapshot& snapshot);
    static std::optional<Snapshot> get(pg::Connection& connection, const std::string& task_id,
                                       std::optional<std::int64_t> version);
    static std::vector<std::int64_t> list_versions(pg::Connection& connection,
                                                   const std::string& task_id);
    static std::shared_ptr<bool> remove(pg::Connection& connection, const std::string& task_id,
                                        std::optional<std::int64_t> version);
};

/// SnapshotStore on a PostgreSQL table `snapshots` (created if missing, versioned: see
/// docs/scaling.md). Same semantics as SqliteSnapshotStore: `data_json` and `created_at` come
/// back byte for byte as saved; `data` is also stored as jsonb (for SQL on it) and `created_at`
/// as timestamptz. Sync calls run on the calling thread on a pooled connection (one round trip,
/// committed on return); queued calls run on the store's threads, writes group-committed in
/// one pipelined transaction.
class PostgresSnapshotStore final : public EngineSnapshotStore<pg::Database, PostgresSnapshotSql> {
public:
    /// Connects, creates or migrates the schema. Throws InvalidArgument (bad DSN) or StoreError
    /// (Connection, Authentication, CantOpen...).
    explicit PostgresSnapshotStore(pg::ConnectOptions options, int max_connections = 0);
};

extern template class EngineSnapshotStore<pg::Database, PostgresSnapshotSql>;

/// True when PostgreSQL will take `data_json` as a jsonb value: strict JSON (RFC 8259) without
/// what jsonb refuses (the escape \u0000, unpaired surrogate escapes) and within conservative
/// bounds (nesting up to 1000, numbers up to 1000 digits and exponents up to 1000). Documents
/// that fail are stored with `data` NULL; `data_text` keeps them as saved.
bool jsonb_can_hold(std::string_view data_json) noexcept;

}  // namespace asap_native
