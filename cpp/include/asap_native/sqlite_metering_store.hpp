// Metering store backed by SQLite, file-compatible with asap-protocol's SQLiteMeteringStore.
#pragma once

#include <memory>
#include <string>

#include "asap_native/metering_store.hpp"
#include "asap_native/sqlite/connection.hpp"
#include "asap_native/sqlite_store.hpp"

namespace asap_native {

/// MeteringStore on a SQLite file (or ":memory:") using asap-protocol's `usage_events` table
/// and both of its indexes. Time windows compare instants, not text. Queued calls as in
/// SqliteSnapshotStore, ordered per agent.
class SqliteMeteringStore final : public SqliteStore<MeteringStore> {
public:
    /// Opens or creates the database and the table. Throws InvalidArgument or StoreError.
    explicit SqliteMeteringStore(const std::string& path, sqlite::ConnectionOptions options = {});
    /// The store on an engine other stores of the file use too; creates the table if missing.
    explicit SqliteMeteringStore(std::shared_ptr<SqliteEngine> engine);

    void record(const UsageEvent& event) override;
    std::vector<UsageEvent> query(const std::string& agent_id, InstantMicros start,
                                  InstantMicros end, QueryPage page) override;
    UsageAggregate aggregate(const std::string& agent_id, const std::string& period) override;

    void record_queued(UsageEvent event, Done<Nothing> done) override;
    void query_queued(std::string agent_id, InstantMicros start, InstantMicros end, QueryPage page,
                      Done<std::vector<UsageEvent>> done) override;
    void aggregate_queued(std::string agent_id, std::string period,
                          Done<UsageAggregate> done) override;
};

/// A new event id as asap-protocol makes them: "evt_" followed by a ULID.
std::string new_event_id();

}  // namespace asap_native
