// In-memory metering store.
#pragma once

#include <atomic>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "asap_native/metering_store.hpp"

namespace asap_native {

/// A MeteringStore kept in process memory; nothing survives the process.
class MemoryMeteringStore final : public MeteringStore {
public:
    void record(const UsageEvent& event) override;
    std::vector<UsageEvent> query(const std::string& agent_id, InstantMicros start,
                                  InstantMicros end, QueryPage page) override;
    UsageAggregate aggregate(const std::string& agent_id, const std::string& period) override;

    StoreFigures stats() const override { return stats_.figures(); }
    void close() override;
    bool is_closed() const override { return closed_.load(); }

private:
    void record_unmeasured(const UsageEvent& event);
    std::vector<UsageEvent> query_unmeasured(const std::string& agent_id, InstantMicros start,
                                             InstantMicros end, QueryPage page);
    UsageAggregate aggregate_unmeasured(const std::string& agent_id, const std::string& period);

    void ensure_open() const;

    StoreStats stats_;
    std::atomic<bool> closed_{false};
    struct StoredEvent {
        UsageEvent event;
        InstantMicros instant;
    };
    std::shared_mutex mutex_;
    std::unordered_map<std::string, std::vector<StoredEvent>> events_by_agent_;
};

}  // namespace asap_native
