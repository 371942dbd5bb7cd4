#include "asap_native/retention.hpp"

#include <algorithm>
#include <vector>

#include "asap_native/errors.hpp"
#include "asap_native/sqlite/statement.hpp"
#include "asap_native/sqlite/transaction.hpp"
#include "asap_native/usage_index.hpp"

namespace asap_native {
namespace {

using sqlite::Connection;
using sqlite::Statement;

// Tasks (or agents) visited by one step at most, and rows read per row deleted at most:
// what bounds a step when there is little to delete per task or per row read.
constexpr int kMaxVisitsPerStep = 256;
constexpr std::int64_t kReadsPerDelete = 4;

// The first value of `column` in `table` after `after` (or the first of all), by its index.
std::optional<std::string> next_key(Connection& connection, const std::string& table,
                                    const std::string& column,
                                    const std::optional<std::string>& after) {
    const std::string base = "SELECT " + column + " FROM " + table;
    Statement::Use select(connection.statement(after ? base + " WHERE " + column +
                                                           " > ?1 ORDER BY " + column + " LIMIT 1"
                                                     : base + " ORDER BY " + column + " LIMIT 1"));
    if (after) select->bind_no_copy(1, *after);
    if (!select->step()) return std::nullopt;
    return std::string(select->column_text(0));
}

class SnapshotRetention final : public RetentionJob {
public:
    SnapshotRetention(std::optional<std::string> task_id, std::int64_t keep_last,
                      std::int64_t chunk_rows)
        : RetentionJob("snapshots", chunk_rows),
          only_task_(std::move(task_id)),
          keep_last_(keep_last) {
        if (keep_last < 1) throw InvalidArgument("keep_last must be at least 1");
    }

protected:
    std::int64_t count_rows(Connection& connection) override {
        if (only_task_) {
            Statement::Use count(connection.statement(
                "SELECT max(count(*) - ?2, 0) FROM snapshots WHERE task_id = ?1"));
            count->bind_no_copy(1, *only_task_);
            count->bind(2, keep_last_);
            return count->step() ? count->column_int64(0) : 0;
        }
        Statement::Use count(connection.statement(
            "SELECT coalesce(sum(n - ?1), 0) FROM (SELECT count(*) AS n FROM snapshots "
            "GROUP BY task_id) WHERE n > ?1"));
        count->bind(1, keep_last_);
        return count->step() ? count->column_int64(0) : 0;
    }

    std::int64_t run_chunk(Connection& connection, bool& finished) override {
        std::int64_t deleted = 0;
        for (int visits = 0; deleted < chunk_rows() && visits < kMaxVisitsPerStep; ++visits) {
            if (!current_) {
                if (only_task_) {
                    if (visited_only_task_) {
                        finished = true;
                        break;
                    }
                    current_ = only_task_;
                    visited_only_task_ = true;
                } else {
                    current_ = next_key(connection, "snapshots", "task_id", last_task_);
                    if (!current_) {
                        finished = true;
                        break;
                    }
                }
            }
            const std::int64_t limit = chunk_rows() - deleted;
            const std::int64_t removed = delete_some(connection, *current_, limit);
            deleted += removed;
            if (removed < limit) {  // this task keeps only its newest versions now
                last_task_ = std::move(current_);
                current_.reset();
            }
        }
        return deleted;
    }

private:
    // Deletes up to `limit` of the oldest versions beyond the task's newest keep_last.
    std::int64_t delete_some(Connection& connection, const std::string& task, std::int64_t limit) {
        std::int64_t cutoff;
        {
            Statement::Use select(connection.statement(
                "SELECT version FROM snapshots WHERE task_id = ?1 ORDER BY version DESC "
                "LIMIT 1 OFFSET ?2"));
            select->bind_no_copy(1, task);
            select->bind(2, keep_last_);
            if (!select->step()) return 0;  // keep_last versions or fewer
            cutoff = select->column_int64(0);
        }
        Statement::Use remove(connection.statement(
            "DELETE FROM snapshots WHERE task_id = ?1 AND version IN (SELECT version FROM "
            "snapshots WHERE task_id = ?1 AND version <= ?2 ORDER BY version LIMIT ?3)"));
        remove->bind_no_copy(1, task);
        remove->bind(2, cutoff);
        remove->bind(3, limit);
        remove->run();
        return connection.changes();
    }

    std::optional<std::string> only_task_;
    std::int64_t keep_last_;
    bool visited_only_task_ = false;
    std::optional<std::string> current_;
    std::optional<std::string> last_task_;
};

class UsageRetention final : public RetentionJob {
public:
    UsageRetention(InstantMicros before, std::int64_t chunk_rows)
        : RetentionJob("usage_events", chunk_rows),
          before_(before),
          text_below_(timestamp_text_below(before)) {}

protected:
    std::int64_t count_rows(Connection& connection) override {
        Statement::Use count(
            connection.statement("SELECT count(*) FROM usage_events WHERE timestamp < ?1 AND "
                                 "asap_instant(timestamp) < ?2"));
        count->bind_no_copy(1, text_below_);
        count->bind(2, before_);
        return count->step() ? count->column_int64(0) : 0;
    }

    std::int64_t run_chunk(Connection& connection, bool& finished) override {
        std::int64_t deleted = 0;
        std::int64_t read_budget = chunk_rows() * kReadsPerDelete;
        for (int visits = 0;
             deleted < chunk_rows() && read_budget > 0 && visits < kMaxVisitsPerStep; ++visits) {
            if (!agent_) {
                agent_ = next_key(connection, "usage_events", "agent_id", last_agent_);
                if (!agent_) {
                    finished = true;
                    break;
                }
                cursor_.reset();
            }
            std::vector<std::int64_t> doomed;
            const bool agent_done = scan(connection, chunk_rows() - deleted, read_budget, doomed);
            Statement::Use remove(
                connection.statement("DELETE FROM usage_events WHERE rowid = ?1"));
            for (std::int64_t rowid : doomed) {
                remove->bind(1, rowid);
                remove->run();
                deleted += connection.changes();
                remove->reset();
            }
            if (agent_done) {
                last_agent_ = std::move(agent_);
                agent_.reset();
            }
        }
        return deleted;
    }

private:
    // Reads the agent's next rows in index order (timestamp, rowid) below the text bound,
    // from the cursor on; collects up to `wanted` rows before the cutoff. Returns true when
    // the agent has no rows left to read.
    bool scan(Connection& connection, std::int64_t wanted, std::int64_t& read_budget,
              std::vector<std::int64_t>& doomed) {
        const std::string columns =
            "SELECT rowid, timestamp, asap_instant(timestamp) < ?3 FROM usage_events "
            "WHERE agent_id = ?1 AND timestamp < ?2 ";
        Statement::Use select(connection.statement(
            cursor_ ? columns + "AND timestamp >= ?5 AND (timestamp > ?5 OR rowid > ?6) "
                                "ORDER BY timestamp, rowid LIMIT ?4"
                    : columns + "ORDER BY timestamp, rowid LIMIT ?4"));
        select->bind_no_copy(1, *agent_);
        select->bind_no_copy(2, text_below_);
        select->bind(3, before_);
        select->bind(4, read_budget);
        std::string cursor_text;
        if (cursor_) {
            cursor_text = cursor_->first;
            select->bind_no_copy(5, cursor_text);
            select->bind(6, cursor_->second);
        }
        std::int64_t read = 0;
        bool exhausted = true;
        while (select->step()) {
            ++read;
            const std::int64_t rowid = select->column_int64(0);
            cursor_.emplace(std::string(select->column_text(1)), rowid);
            if (!select->column_is_null(2) && select->column_int64(2) != 0) doomed.push_back(rowid);
            if (static_cast<std::int64_t>(doomed.size()) >= wanted) {
                exhausted = false;
                break;
            }
        }
        if (read >= read_budget) exhausted = false;
        read_budget -= read;
        return exhausted;
    }

    InstantMicros before_;
    std::string text_below_;
    std::optional<std::string> agent_;
    std::optional<std::string> last_agent_;
    std::optional<std::pair<std::string, std::int64_t>> cursor_;  // (timestamp, rowid) read
};

}  // namespace

RetentionJob::RetentionJob(std::string table, std::int64_t chunk_rows)
    : table_(std::move(table)), chunk_rows_(chunk_rows) {
    if (chunk_rows < 1) throw InvalidArgument("chunk_size must be at least 1");
}

std::int64_t RetentionJob::step(Connection& connection) {
    if (running_.exchange(true))
        throw InvalidArgument("a step of this retention job is already running");
    struct Release {
        std::atomic<bool>& flag;
        ~Release() { flag.store(false); }
    } release{running_};
    if (done_.load()) return 0;
    bool finished = true;  // a file without the table has nothing to delete
    std::int64_t deleted = 0;
    if (has_table(connection)) {
        finished = false;
        deleted = run_chunk(connection, finished);
    }
    deleted_.fetch_add(deleted);
    if (finished) done_.store(true);
    return deleted;
}

std::int64_t RetentionJob::count_remaining(Connection& connection) {
    return has_table(connection) ? count_rows(connection) : 0;
}

bool RetentionJob::has_table(Connection& connection) const {
    Statement::Use select(
        connection.statement("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1"));
    select->bind_no_copy(1, table_);
    return select->step();
}

std::shared_ptr<RetentionJob> snapshot_retention(std::optional<std::string> task_id,
                                                 std::int64_t keep_last, std::int64_t chunk_rows) {
    return std::make_shared<SnapshotRetention>(std::move(task_id), keep_last, chunk_rows);
}

std::shared_ptr<RetentionJob> usage_retention(InstantMicros before, std::int64_t chunk_rows) {
    return std::make_shared<UsageRetention>(before, chunk_rows);
}

std::int64_t run_retention_step(SqliteEngine& engine, RetentionJob& job) {
    return engine.write(StoreOperation::Prune, [&](Connection& connection) {
        sqlite::Transaction transaction(connection);
        const std::int64_t deleted = job.step(connection);
        transaction.commit();
        return deleted;
    });
}

void run_retention_step_queued(SqliteEngine& engine, std::shared_ptr<RetentionJob> job,
                               Done<std::int64_t> done) {
    engine.write_queued(
        StoreOperation::Prune, "asap_native:retention",
        [job = std::move(job)](Connection& connection) { return job->step(connection); },
        std::move(done));
}

}  // namespace asap_native
