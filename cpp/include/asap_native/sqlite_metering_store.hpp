// Metering store backed by SQLite, file-compatible with asap-protocol's SQLiteMeteringStore.
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <string>

#include "asap_native/metering_store.hpp"
#include "asap_native/sqlite/connection.hpp"

namespace asap_native {

class Executor;
struct ExecutorStats;
namespace sqlite {
class Database;
}

/// MeteringStore on a SQLite file (or ":memory:") using asap-protocol's `usage_events` table
/// and both of its indexes. Time windows compare instants, not text.
class SqliteMeteringStore final : public MeteringStore {
public:
    /// Opens or creates the database and the table. Throws InvalidArgument or StoreError.
    explicit SqliteMeteringStore(const std::string& path, sqlite::ConnectionOptions options = {});
    ~SqliteMeteringStore() override;

    void record(const UsageEvent& event) override;
    std::vector<UsageEvent> query(const std::string& agent_id, InstantMicros start,
                                  InstantMicros end, QueryPage page) override;
    UsageAggregate aggregate(const std::string& agent_id, const std::string& period) override;

    /// Callbacks of the queued API; they run on an executor thread and must not throw.
    using RecordDone = std::function<void(std::exception_ptr)>;
    using QueryDone = std::function<void(std::vector<UsageEvent>, std::exception_ptr)>;
    using AggregateDone = std::function<void(UsageAggregate, std::exception_ptr)>;

    /// Queues a record on the writer thread (group-committed); `done` runs once committed.
    void record_queued(UsageEvent event, RecordDone done);
    /// Queues a query on a reader thread (after queued records of the same agent).
    void query_queued(std::string agent_id, InstantMicros start, InstantMicros end, QueryPage page,
                      QueryDone done);
    /// Queues an aggregate on a reader thread (after queued records of the same agent).
    void aggregate_queued(std::string agent_id, std::string period, AggregateDone done);
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

/// A new event id as asap-protocol makes them: "evt_" followed by a ULID.
std::string new_event_id();

}  // namespace asap_native
