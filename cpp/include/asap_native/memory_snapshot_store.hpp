// In-memory snapshot store.
#pragma once

#include <map>
#include <string>
#include <unordered_map>

#include "asap_native/memory_store.hpp"
#include "asap_native/snapshot_store.hpp"

namespace asap_native {

/// A SnapshotStore kept in process memory; nothing survives the process.
class MemorySnapshotStore final : public MemoryStore<SnapshotStore> {
public:
    void save(const Snapshot& snapshot) override;
    std::optional<Snapshot> get(const std::string& task_id,
                                std::optional<std::int64_t> version) override;
    std::vector<std::int64_t> list_versions(const std::string& task_id) override;
    bool remove(const std::string& task_id, std::optional<std::int64_t> version) override;

private:
    bool remove_unmeasured(const std::string& task_id, std::optional<std::int64_t> version);

    std::unordered_map<std::string, std::map<std::int64_t, Snapshot>> tasks_;
};

}  // namespace asap_native
