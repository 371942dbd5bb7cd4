// The snapshot store interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "asap_native/store_stats.hpp"

#include "asap_native/snapshot.hpp"

namespace asap_native {

/// Versioned task-state storage. Implementations are safe to call from many threads at once.
class SnapshotStore {
public:
    virtual ~SnapshotStore() = default;

    /// Inserts the snapshot, replacing any stored one with the same task_id and version.
    virtual void save(const Snapshot& snapshot) = 0;

    /// Returns the given version, or the highest one when `version` is empty; nullopt if absent.
    virtual std::optional<Snapshot> get(const std::string& task_id,
                                        std::optional<std::int64_t> version) = 0;

    /// Returns the stored versions of a task in ascending order.
    virtual std::vector<std::int64_t> list_versions(const std::string& task_id) = 0;

    /// Deletes one version, or every version when `version` is empty; true if anything went.
    virtual bool remove(const std::string& task_id, std::optional<std::int64_t> version) = 0;

    /// Operations, errors, busy waits and group commits so far, with latency percentiles.
    virtual StoreStatsSnapshot stats() const = 0;

    /// Waits for calls in progress, then refuses new ones with StoreError(Closed). Idempotent.
    virtual void close() = 0;
    /// True once close() has run.
    virtual bool is_closed() const = 0;
};

}  // namespace asap_native
