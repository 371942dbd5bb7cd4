#include "asap_native/memory_metering_store.hpp"

#include <algorithm>
#include <mutex>

#include "asap_native/errors.hpp"

namespace asap_native {

void MemoryMeteringStore::record(const UsageEvent& event) {
    stats_.measure(StoreOperation::Record, [&] { record_unmeasured(event); });
}

std::vector<UsageEvent> MemoryMeteringStore::query(const std::string& agent_id, InstantMicros start,
                                                   InstantMicros end, QueryPage page) {
    return stats_.measure(StoreOperation::Query,
                          [&] { return query_unmeasured(agent_id, start, end, page); });
}

UsageAggregate MemoryMeteringStore::aggregate(const std::string& agent_id,
                                              const std::string& period) {
    return stats_.measure(StoreOperation::Aggregate,
                          [&] { return aggregate_unmeasured(agent_id, period); });
}

void MemoryMeteringStore::record_unmeasured(const UsageEvent& event) {
    ensure_open();
    validate_usage_event(event);
    const InstantMicros instant = parse_iso8601_or_throw(event.timestamp, "usage event timestamp");
    std::unique_lock lock(mutex_);
    events_by_agent_[event.agent_id].push_back(StoredEvent{event, instant});
}

std::vector<UsageEvent> MemoryMeteringStore::query_unmeasured(const std::string& agent_id,
                                                              InstantMicros start,
                                                              InstantMicros end, QueryPage page) {
    ensure_open();
    validate_query(agent_id, page);
    std::vector<const StoredEvent*> matches;
    std::vector<UsageEvent> out;
    std::shared_lock lock(mutex_);
    auto agent = events_by_agent_.find(agent_id);
    if (agent == events_by_agent_.end()) return out;
    for (const auto& stored : agent->second)
        if (stored.instant >= start && stored.instant <= end) matches.push_back(&stored);
    std::stable_sort(
        matches.begin(), matches.end(),
        [](const StoredEvent* a, const StoredEvent* b) { return a->instant < b->instant; });
    const auto size = static_cast<std::int64_t>(matches.size());
    const std::int64_t first = std::min(page.offset, size);
    std::int64_t last = size;
    if (page.limit && *page.limit >= 0) {
        last = first + std::min(size - first, *page.limit);  // min first: no overflow
    } else if (page.limit) {
        // asap-protocol's in-memory store slices matches[offset:offset + limit]: a negative
        // end counts from the end (in 128 bits: offset + limit may leave 64).
        UsageCount slice_end = static_cast<UsageCount>(page.offset) + *page.limit;
        if (slice_end < 0) slice_end += size;
        slice_end = std::clamp<UsageCount>(slice_end, 0, size);
        last = std::max(first, static_cast<std::int64_t>(slice_end));
    }
    out.reserve(static_cast<std::size_t>(last - first));
    for (std::int64_t i = first; i < last; ++i)
        out.push_back(matches[static_cast<std::size_t>(i)]->event);
    return out;
}

UsageAggregate MemoryMeteringStore::aggregate_unmeasured(const std::string& agent_id,
                                                         const std::string& period) {
    ensure_open();
    validate_query(agent_id, QueryPage{});
    UsageAggregate total{agent_id, period};
    std::shared_lock lock(mutex_);
    auto agent = events_by_agent_.find(agent_id);
    if (agent == events_by_agent_.end()) return total;
    const std::string what = "usage totals of agent '" + agent_id + "'";
    for (const auto& stored : agent->second) {
        const UsageMetrics& m = stored.event.metrics;
        add_usage(total.total_tokens, m.tokens_in, what);
        add_usage(total.total_tokens, m.tokens_out, what);
        add_usage(total.total_duration, m.duration_ms, what);
        add_usage(total.total_api_calls, m.api_calls, what);
        total.total_tasks += 1;
    }
    return total;
}

}  // namespace asap_native
