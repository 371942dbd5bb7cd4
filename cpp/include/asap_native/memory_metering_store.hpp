// In-memory metering store.
#pragma once

#include <unordered_map>
#include <vector>

#include "asap_native/memory_store.hpp"
#include "asap_native/metering_store.hpp"

namespace asap_native {

/// A MeteringStore kept in process memory; nothing survives the process.
class MemoryMeteringStore final : public MemoryStore<MeteringStore> {
public:
    void record(const UsageEvent& event) override;
    std::vector<UsageEvent> query(const std::string& agent_id, InstantMicros start,
                                  InstantMicros end, QueryPage page) override;
    UsageAggregate aggregate(const std::string& agent_id, const std::string& period) override;

private:
    void record_unmeasured(const UsageEvent& event);
    std::vector<UsageEvent> query_unmeasured(const std::string& agent_id, InstantMicros start,
                                             InstantMicros end, QueryPage page);
    UsageAggregate aggregate_unmeasured(const std::string& agent_id, const std::string& period);

    struct StoredEvent {
        UsageEvent event;
        InstantMicros instant;
    };
    std::unordered_map<std::string, std::vector<StoredEvent>> events_by_agent_;
};

}  // namespace asap_native
