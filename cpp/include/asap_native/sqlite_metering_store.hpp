// Metering store backed by SQLite, file-compatible with asap-protocol's SQLiteMeteringStore.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "asap_native/engine_store.hpp"
#include "asap_native/sqlite/connection.hpp"
#include "asap_native/sqlite_engine.hpp"

namespace asap_native {

/// What a SqliteMeteringStore adds to the file besides asap-protocol's table and indexes.
struct MeteringOptions {
    /// Create the instant index (usage_index.hpp) when missing, so that time windows read
    /// only the rows in the window. Without it windows read asap-protocol's index with a
    /// margin of a day each side. Either way the index is used when the file has it. Off by
    /// default: the file keeps asap-protocol's schema exactly, and writes touch one index
    /// fewer.
    bool instant_index = false;
};

/// The metering operations on a connection, in asap-protocol's `usage_events` table.
struct SqliteMeteringSql {
    static void record(sqlite::Connection& connection, const UsageEvent& event);
    /// Through the instant index while `by_key`, else through asap-protocol's index.
    std::vector<UsageEvent> query(sqlite::Connection& connection, const std::string& agent_id,
                                  InstantMicros start, InstantMicros end, QueryPage page) const;
    static UsageAggregate aggregate(sqlite::Connection& connection, const std::string& agent_id,
                                    const std::string& period);

    /// True while the file has the instant index (cleared when a query finds it dropped).
    /// Shared with queued calls, which may run after the store object is gone (the engine
    /// may be shared).
    std::shared_ptr<std::atomic<bool>> by_key = std::make_shared<std::atomic<bool>>(false);
};

/// MeteringStore on a SQLite file (or ":memory:") using asap-protocol's `usage_events` table
/// and both of its indexes. Time windows compare instants, not text. Queued calls as in
/// SqliteSnapshotStore, ordered per agent.
class SqliteMeteringStore final : public EngineMeteringStore<sqlite::Database, SqliteMeteringSql> {
public:
    /// Opens or creates the database and the table. Throws InvalidArgument or StoreError.
    explicit SqliteMeteringStore(const std::string& path, sqlite::ConnectionOptions options = {},
                                 MeteringOptions metering = {});
    /// The store on an engine other stores of the file use too; creates the table if missing.
    explicit SqliteMeteringStore(std::shared_ptr<SqliteEngine> engine,
                                 MeteringOptions metering = {});

    /// SQLite's plan for query(agent_id, start, end, page): EXPLAIN QUERY PLAN's lines.
    std::vector<std::string> explain_query(const std::string& agent_id, InstantMicros start,
                                           InstantMicros end, QueryPage page);
    /// True while time windows are read through the instant index.
    bool uses_instant_index() const { return sql_.by_key->load(); }
};

extern template class EngineMeteringStore<sqlite::Database, SqliteMeteringSql>;

/// A new event id as asap-protocol makes them: "evt_" followed by a ULID.
std::string new_event_id();

/// asap-protocol's DDL of the `usage_events` table and both of its indexes, byte for byte (IF NOT
/// EXISTS).
const char* sqlite_metering_schema();

}  // namespace asap_native
