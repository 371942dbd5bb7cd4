// Metering store backed by SQLite, file-compatible with asap-protocol's SQLiteMeteringStore.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "asap_native/engine_store.hpp"
#include "asap_native/sqlite/connection.hpp"
#include "asap_native/sqlite_engine.hpp"

namespace asap_native {

/// The metering operations on a connection, in asap-protocol's `usage_events` table.
struct SqliteMeteringSql {
    static void record(sqlite::Connection& connection, const UsageEvent& event);
    static std::vector<UsageEvent> query(sqlite::Connection& connection,
                                         const std::string& agent_id, InstantMicros start,
                                         InstantMicros end, QueryPage page);
    static UsageAggregate aggregate(sqlite::Connection& connection, const std::string& agent_id,
                                    const std::string& period);
};

/// MeteringStore on a SQLite file (or ":memory:") using asap-protocol's `usage_events` table
/// and both of its indexes. Time windows compare instants, not text. Queued calls as in
/// SqliteSnapshotStore, ordered per agent.
class SqliteMeteringStore final : public EngineMeteringStore<sqlite::Database, SqliteMeteringSql> {
public:
    /// Opens or creates the database and the table. Throws InvalidArgument or StoreError.
    explicit SqliteMeteringStore(const std::string& path, sqlite::ConnectionOptions options = {});
    /// The store on an engine other stores of the file use too; creates the table if missing.
    explicit SqliteMeteringStore(std::shared_ptr<SqliteEngine> engine);
};

extern template class EngineMeteringStore<sqlite::Database, SqliteMeteringSql>;

/// A new event id as asap-protocol makes them: "evt_" followed by a ULID.
std::string new_event_id();

}  // namespace asap_native
