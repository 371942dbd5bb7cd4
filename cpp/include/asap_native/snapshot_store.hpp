// The snapshot store interface.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "asap_native/queued_call.hpp"
#include "asap_native/snapshot.hpp"
#include "asap_native/store_stats.hpp"

namespace asap_native {

/// Versioned task-state storage. Implementations are safe to call from many threads at once.
///
/// Each operation comes in two forms: a call that returns its result, and a queued call that
/// hands it to a Done callback (see queued_call.hpp). Stores that wait on I/O run queued calls
/// on their own threads; the defaults here run them inline, for stores that never wait.
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

    virtual void save_queued(Snapshot snapshot, Done<Nothing> done) {
        complete_now<Nothing>([&] { save(snapshot); }, done);
    }
    virtual void get_queued(std::string task_id, std::optional<std::int64_t> version,
                            Done<std::optional<Snapshot>> done) {
        complete_now<std::optional<Snapshot>>([&] { return get(task_id, version); }, done);
    }
    virtual void list_versions_queued(std::string task_id, Done<std::vector<std::int64_t>> done) {
        complete_now<std::vector<std::int64_t>>([&] { return list_versions(task_id); }, done);
    }
    virtual void remove_queued(std::string task_id, std::optional<std::int64_t> version,
                               Done<bool> done) {
        complete_now<bool>([&] { return remove(task_id, version); }, done);
    }

    /// Operations, errors, busy waits and group commits so far, with latency percentiles.
    virtual StoreFigures stats() const = 0;

    /// Waits for calls in progress, then refuses new ones with StoreError(Closed). Idempotent.
    virtual void close() = 0;
    /// True once close() has run.
    virtual bool is_closed() const = 0;
};

}  // namespace asap_native
