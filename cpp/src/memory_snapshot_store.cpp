#include "asap_native/memory_snapshot_store.hpp"

#include <mutex>

#include "asap_native/errors.hpp"

namespace asap_native {

void MemorySnapshotStore::save(const Snapshot& snapshot) {
    stats_.measure(StoreOperation::Save, [&] {
        ensure_open();
        validate_snapshot(snapshot);
        std::unique_lock lock(mutex_);
        tasks_[snapshot.task_id][snapshot.version] = snapshot;
    });
}

std::optional<Snapshot> MemorySnapshotStore::get(const std::string& task_id,
                                                 std::optional<std::int64_t> version) {
    return stats_.measure(StoreOperation::Get, [&]() -> std::optional<Snapshot> {
        ensure_open();
        std::shared_lock lock(mutex_);
        auto task = tasks_.find(task_id);
        if (task == tasks_.end() || task->second.empty()) return std::nullopt;
        if (!version) return task->second.rbegin()->second;
        auto found = task->second.find(*version);
        if (found == task->second.end()) return std::nullopt;
        return found->second;
    });
}

std::vector<std::int64_t> MemorySnapshotStore::list_versions(const std::string& task_id) {
    return stats_.measure(StoreOperation::ListVersions, [&] {
        ensure_open();
        std::shared_lock lock(mutex_);
        std::vector<std::int64_t> versions;
        auto task = tasks_.find(task_id);
        if (task == tasks_.end()) return versions;
        versions.reserve(task->second.size());
        for (const auto& entry : task->second) versions.push_back(entry.first);
        return versions;
    });
}

bool MemorySnapshotStore::remove(const std::string& task_id, std::optional<std::int64_t> version) {
    return stats_.measure(StoreOperation::Delete,
                          [&] { return remove_unmeasured(task_id, version); });
}

bool MemorySnapshotStore::remove_unmeasured(const std::string& task_id,
                                            std::optional<std::int64_t> version) {
    ensure_open();
    std::unique_lock lock(mutex_);
    auto task = tasks_.find(task_id);
    if (task == tasks_.end()) return false;
    if (!version) {
        tasks_.erase(task);
        return true;
    }
    const bool removed = task->second.erase(*version) > 0;
    if (task->second.empty()) tasks_.erase(task);
    return removed;
}

}  // namespace asap_native
