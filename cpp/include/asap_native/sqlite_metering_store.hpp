// Metering store backed by SQLite, file-compatible with asap-protocol's SQLiteMeteringStore.
#pragma once

#include <memory>
#include <string>

#include "asap_native/metering_store.hpp"
#include "asap_native/sqlite/connection.hpp"

namespace asap_native {

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

    /// Closes every connection; later calls throw StoreError(Closed).
    void close();
    /// True once close() has run.
    bool is_closed() const;
    /// The connections this store uses.
    sqlite::Database& database() { return *database_; }

private:
    std::unique_ptr<sqlite::Database> database_;
};

/// A new event id as asap-protocol makes them: "evt_" followed by a ULID.
std::string new_event_id();

}  // namespace asap_native
