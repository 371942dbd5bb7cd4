// Metering store on PostgreSQL.
#pragma once

#include <string>
#include <vector>

#include "asap_native/engine_store.hpp"
#include "asap_native/postgres_engine.hpp"

namespace asap_native {

/// The metering operations on a pooled connection.
struct PostgresMeteringSql {
    static void record(pg::Connection& connection, const UsageEvent& event);
    static std::vector<UsageEvent> query(pg::Connection& connection, const std::string& agent_id,
                                         InstantMicros start, InstantMicros end, QueryPage page);
    static UsageAggregate aggregate(pg::Connection& connection, const std::string& agent_id,
                                    const std::string& period);
};

/// MeteringStore on a PostgreSQL table `usage_events` (created if missing, versioned). Same
/// semantics as SqliteMeteringStore: windows compare instants (a timestamptz column, indexed
/// with the agent), ties in insertion order, timestamps returned as recorded, totals exact
/// (summed as numeric by the server). Queued records are group-committed.
class PostgresMeteringStore final : public EngineMeteringStore<pg::Database, PostgresMeteringSql> {
public:
    /// Connects, creates or migrates the schema. Throws InvalidArgument (bad DSN) or StoreError.
    explicit PostgresMeteringStore(pg::ConnectOptions options, int max_connections = 0);
};

extern template class EngineMeteringStore<pg::Database, PostgresMeteringSql>;

}  // namespace asap_native
