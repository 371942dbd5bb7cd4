// In-memory snapshot store.
#pragma once

#include <atomic>
#include <map>
#include <shared_mutex>
#include <string>
#include <unordered_map>

#include "asap_native/snapshot_store.hpp"

namespace asap_native {

/// A SnapshotStore kept in process memory; nothing survives the process.
class MemorySnapshotStore final : public SnapshotStore {
public:
    void save(const Snapshot& snapshot) override;
    std::optional<Snapshot> get(const std::string& task_id,
                                std::optional<std::int64_t> version) override;
    std::vector<std::int64_t> list_versions(const std::string& task_id) override;
    bool remove(const std::string& task_id, std::optional<std::int64_t> version) override;

    StoreFigures stats() const override { return stats_.figures(); }
    void close() override;
    bool is_closed() const override { return closed_.load(); }

private:
    bool remove_unmeasured(const std::string& task_id, std::optional<std::int64_t> version);

    void ensure_open() const;

    StoreStats stats_;
    std::atomic<bool> closed_{false};
    std::shared_mutex mutex_;
    std::unordered_map<std::string, std::map<std::int64_t, Snapshot>> tasks_;
};

}  // namespace asap_native
