// Retention: deleting old snapshot versions and usage events a bounded chunk at a time.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "asap_native/queued_call.hpp"
#include "asap_native/sqlite_engine.hpp"
#include "asap_native/timestamp.hpp"

namespace asap_native {

/// What a retention rule no longer keeps, deleted in steps: each step deletes at most
/// `chunk_rows` rows and reads a bounded number more, in the caller's transaction, so a
/// writer waits for one step at most. Steps run one after another (never two at once); a
/// rule is done when a step deletes nothing more. Rows written while a rule runs are judged
/// as the steps reach them.
class RetentionJob {
public:
    /// A rule on `table` (a file without the table has nothing to delete).
    RetentionJob(std::string table, std::int64_t chunk_rows);
    virtual ~RetentionJob() = default;
    RetentionJob(const RetentionJob&) = delete;
    RetentionJob& operator=(const RetentionJob&) = delete;

    /// Deletes the next chunk on `connection`, inside a transaction the caller holds.
    /// Returns the rows deleted; 0 once done.
    std::int64_t step(sqlite::Connection& connection);
    /// True once a step found nothing more to delete.
    bool done() const { return done_.load(); }
    /// Rows deleted by every step so far.
    std::int64_t deleted() const { return deleted_.load(); }
    /// How many rows the rule would delete now (a count, for progress bars).
    std::int64_t count_remaining(sqlite::Connection& connection);

protected:
    /// count_remaining, on a file that has the table.
    virtual std::int64_t count_rows(sqlite::Connection& connection) = 0;
    /// One chunk, on a file that has the table: returns the rows deleted, and sets `finished`
    /// when nothing is left.
    virtual std::int64_t run_chunk(sqlite::Connection& connection, bool& finished) = 0;
    std::int64_t chunk_rows() const { return chunk_rows_; }

private:
    bool has_table(sqlite::Connection& connection) const;

    std::string table_;
    std::int64_t chunk_rows_;
    std::atomic<bool> running_{false};
    std::atomic<bool> done_{false};
    std::atomic<std::int64_t> deleted_{0};
};

/// Keeps the `keep_last` highest versions of every task (or of `task_id` alone) in the
/// `snapshots` table and deletes the rest. keep_last >= 1.
std::shared_ptr<RetentionJob> snapshot_retention(std::optional<std::string> task_id,
                                                 std::int64_t keep_last, std::int64_t chunk_rows);

/// Deletes the `usage_events` rows whose timestamp denotes an instant before `before`
/// (rows whose timestamp is not ISO-8601 are kept). Reads each agent's rows through
/// asap-protocol's (agent_id, timestamp) index up to a day past `before`.
std::shared_ptr<RetentionJob> usage_retention(InstantMicros before, std::int64_t chunk_rows);

/// Runs one step now on the engine's writer connection, in a transaction of its own.
std::int64_t run_retention_step(SqliteEngine& engine, RetentionJob& job);

/// Queues one step as a write of the engine (committed with the writes queued beside it);
/// `done` gets the rows it deleted.
void run_retention_step_queued(SqliteEngine& engine, std::shared_ptr<RetentionJob> job,
                               Done<std::int64_t> done);

}  // namespace asap_native
