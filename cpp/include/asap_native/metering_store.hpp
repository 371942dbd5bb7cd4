// The metering store interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "asap_native/queued_call.hpp"
#include "asap_native/store_stats.hpp"
#include "asap_native/timestamp.hpp"
#include "asap_native/usage.hpp"

namespace asap_native {

/// A page of a query: `limit` empty means no limit. A negative limit reads as asap-protocol's
/// stores read it: no limit in SQL (SQLite's LIMIT -1), a slice end counted from the end of
/// the matches in memory (Python's `matches[offset:offset + limit]`).
struct QueryPage {
    std::optional<std::int64_t> limit;
    std::int64_t offset = 0;
};

/// Usage-event storage. Implementations are safe to call from many threads at once. Queued
/// forms as in SnapshotStore.
class MeteringStore {
public:
    virtual ~MeteringStore() = default;

    /// Appends one event.
    virtual void record(const UsageEvent& event) = 0;

    /// Events of `agent_id` whose instant lies in [start, end], oldest first (ties in
    /// insertion order), after skipping `page.offset` and keeping at most `page.limit`.
    virtual std::vector<UsageEvent> query(const std::string& agent_id, InstantMicros start,
                                          InstantMicros end, QueryPage page) = 0;

    /// Totals over every event of `agent_id`; `period` is carried through as asap-protocol does.
    virtual UsageAggregate aggregate(const std::string& agent_id, const std::string& period) = 0;

    virtual void record_queued(UsageEvent event, Done<Nothing> done) {
        complete_now<Nothing>([&] { record(event); }, done);
    }
    virtual void query_queued(std::string agent_id, InstantMicros start, InstantMicros end,
                              QueryPage page, Done<std::vector<UsageEvent>> done) {
        complete_now<std::vector<UsageEvent>>([&] { return query(agent_id, start, end, page); },
                                              done);
    }
    virtual void aggregate_queued(std::string agent_id, std::string period,
                                  Done<UsageAggregate> done) {
        complete_now<UsageAggregate>([&] { return aggregate(agent_id, period); }, done);
    }

    /// Operations, errors, busy waits and group commits so far, with latency percentiles.
    virtual StoreFigures stats() const = 0;

    /// Waits for calls in progress, then refuses new ones with StoreError(Closed). Idempotent.
    virtual void close() = 0;
    /// True once close() has run.
    virtual bool is_closed() const = 0;
};

/// Throws InvalidArgument for a negative offset (asap-protocol's ValueError).
void validate_query(const std::string& agent_id, QueryPage page);

}  // namespace asap_native
