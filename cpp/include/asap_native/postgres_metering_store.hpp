// Metering store on PostgreSQL.
#pragma once

#include <string>

#include "asap_native/metering_store.hpp"
#include "asap_native/postgres/database.hpp"
#include "asap_native/store_engine.hpp"

namespace asap_native {

/// MeteringStore on a PostgreSQL table `usage_events` (created if missing, versioned). Same
/// semantics as SqliteMeteringStore: windows compare instants (a timestamptz column, indexed
/// with the agent), ties in insertion order, timestamps returned as recorded, totals exact
/// (summed as numeric by the server). Queued records are group-committed.
class PostgresMeteringStore final : public MeteringStore {
public:
    explicit PostgresMeteringStore(pg::ConnectOptions options, int max_connections = 0);

    void record(const UsageEvent& event) override;
    std::vector<UsageEvent> query(const std::string& agent_id, InstantMicros start,
                                  InstantMicros end, QueryPage page) override;
    UsageAggregate aggregate(const std::string& agent_id, const std::string& period) override;

    void record_queued(UsageEvent event, Done<Nothing> done) override;
    void query_queued(std::string agent_id, InstantMicros start, InstantMicros end, QueryPage page,
                      Done<std::vector<UsageEvent>> done) override;
    void aggregate_queued(std::string agent_id, std::string period,
                          Done<UsageAggregate> done) override;

    StoreFigures stats() const override { return engine_.stats(); }
    void close() override { engine_.close(); }
    bool is_closed() const override { return engine_.is_closed(); }
    pg::Database& database() { return engine_.database(); }

private:
    StoreEngine<pg::Database> engine_;
};

/// The schema of the `usage_events` table.
const pg::Schema& postgres_metering_schema();

}  // namespace asap_native
