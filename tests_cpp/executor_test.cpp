// Executor: per-key ordering, group commit (batching and failure isolation), reads behind
// pending writes, exclusive jobs (alone on the writer, in queue order, failing alone),
// shutdown with work queued, concurrent shutdown and fork().
#include "asap_native/executor.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "asap_native/errors.hpp"
#include "asap_native/sqlite/database.hpp"
#include "asap_native/sqlite/statement.hpp"
#include "test_support.hpp"

namespace asap_native::testing {
namespace {

using sqlite::Connection;
using sqlite::Database;
using sqlite::Statement;

constexpr const char* kSchema =
    "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY AUTOINCREMENT, k TEXT NOT NULL, "
    "seq INTEGER NOT NULL, UNIQUE (k, seq))";

void insert(Connection& c, const std::string& key, std::int64_t seq) {
    Statement::Use s(c.statement("INSERT INTO t (k, seq) VALUES (?1, ?2)"));
    s->bind(1, key);
    s->bind(2, seq);
    s->run();
}

std::int64_t count_key(Connection& c, const std::string& key) {
    Statement::Use s(c.statement("SELECT count(*) FROM t WHERE k = ?1"));
    s->bind(1, key);
    s->step();
    return s->column_int64(0);
}

/// The seq values of `key` in commit (rowid) order, read through a separate connection.
std::vector<std::int64_t> committed_order(const std::string& path, const std::string& key) {
    RawDb raw(path);
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(raw.handle(), "SELECT seq FROM t WHERE k = ?1 ORDER BY id", -1, &stmt,
                       nullptr);
    sqlite3_bind_text(stmt, 1, key.c_str(), -1, SQLITE_TRANSIENT);
    std::vector<std::int64_t> out;
    while (sqlite3_step(stmt) == SQLITE_ROW) out.push_back(sqlite3_column_int64(stmt, 0));
    sqlite3_finalize(stmt);
    return out;
}

/// Counts completions (and keeps their errors) so a test can wait for all of them.
class Completions {
public:
    std::function<void(std::exception_ptr)> callback(std::size_t index) {
        return [this, index](std::exception_ptr error) {
            {
                std::lock_guard<std::mutex> lock(mutex_);
                ++calls_[index];
                errors_[index] = error;
                order_.push_back(index);
            }
            cv_.notify_all();
        };
    }
    bool wait_for(std::size_t count) {
        std::unique_lock<std::mutex> lock(mutex_);
        return cv_.wait_for(lock, kPatience, [&] { return order_.size() >= count; });
    }
    std::size_t done() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return order_.size();
    }
    bool finished(std::size_t index) const {
        std::lock_guard<std::mutex> lock(mutex_);
        return calls_.count(index) != 0;
    }
    int calls(std::size_t index) const {
        std::lock_guard<std::mutex> lock(mutex_);
        auto found = calls_.find(index);
        return found == calls_.end() ? 0 : found->second;
    }
    std::exception_ptr error(std::size_t index) const {
        std::lock_guard<std::mutex> lock(mutex_);
        auto found = errors_.find(index);
        return found == errors_.end() ? nullptr : found->second;
    }
    std::vector<std::size_t> order() const {
        std::lock_guard<std::mutex> lock(mutex_);
        return order_;
    }

private:
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::map<std::size_t, int> calls_;
    std::map<std::size_t, std::exception_ptr> errors_;
    std::vector<std::size_t> order_;
};

StoreErrorKind kind_of(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const StoreError& e) {
        return e.kind();
    } catch (...) {
        ADD_FAILURE() << "not a StoreError: " << message_of(error);
        return StoreErrorKind::Other;
    }
}

using SqlExecutor = Executor<Database>;

/// Group-commit figures as the executor reports them to its store's StoreStats.
struct BatchFigures {
    std::uint64_t writes = 0;
    std::uint64_t batches = 0;
    std::uint64_t largest_batch = 0;
};

/// The figures once everything submitted so far has finished.
BatchFigures settled_stats(SqlExecutor& executor, const StoreStats& stats) {
    executor.shutdown();
    const StoreFigures figures = stats.figures();
    return BatchFigures{figures.batched_writes, figures.batches, figures.batch_size_max};
}

class ExecutorTest : public ::testing::Test {
protected:
    Job<Connection> write(const std::string& key, std::int64_t seq, std::size_t index) {
        return Job<Connection>{[key, seq](Connection& c) { insert(c, key, seq); },
                               done_.callback(index)};
    }
    /// A write that holds the writer thread (inside its transaction) until `gate_` opens.
    Job<Connection> blocker(std::size_t index) {
        return Job<Connection>{[this](Connection& c) {
                                   insert(c, "blocker", 0);
                                   writer_thread_ = std::this_thread::get_id();
                                   started_.set_value();
                                   gate_.wait();
                               },
                               done_.callback(index)};
    }
    /// Submits a blocker and waits until the writer thread is inside it.
    void hold_writer(SqlExecutor& executor, std::size_t index) {
        executor.submit_write("blocker", blocker(index));
        ASSERT_EQ(started_.get_future().wait_for(kPatience), std::future_status::ready);
    }

    TempDir dir_;
    std::string path_ = dir_.file("executor.db");
    Database db_{path_, {}, kSchema};
    StoreStats stats_;
    Completions done_;
    Gate gate_;
    std::promise<void> started_;
    std::thread::id writer_thread_;
};

TEST_F(ExecutorTest, WritesOfOneKeyCommitAndCompleteInSubmissionOrder) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    const std::vector<std::string> keys = {"a", "b", "c", "d"};
    constexpr int kPerKey = 200;
    std::size_t index = 0;
    std::map<std::size_t, std::pair<std::string, int>> what;
    for (int seq = 0; seq < kPerKey; ++seq)
        for (const auto& key : keys) {
            what[index] = {key, seq};
            executor.submit_write(key, write(key, seq, index));
            ++index;
        }
    ASSERT_TRUE(done_.wait_for(index));
    std::map<std::string, std::vector<int>> completed;
    for (std::size_t i : done_.order()) {
        EXPECT_FALSE(done_.error(i)) << message_of(done_.error(i));
        completed[what[i].first].push_back(what[i].second);
    }
    std::vector<std::int64_t> expected(kPerKey);
    for (int i = 0; i < kPerKey; ++i) expected[i] = i;
    for (const auto& key : keys) {
        EXPECT_EQ(committed_order(path_, key), expected) << key;
        EXPECT_EQ(std::vector<std::int64_t>(completed[key].begin(), completed[key].end()), expected)
            << key;
    }
    EXPECT_EQ(settled_stats(executor, stats_).writes, index);
}

TEST_F(ExecutorTest, ConcurrentSubmittersKeepEachKeysOrder) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    constexpr int kThreads = 8;
    constexpr int kPerThread = 250;
    run_threads(kThreads, [&](int t) {
        const std::string key = "thread_" + std::to_string(t);
        for (int seq = 0; seq < kPerThread; ++seq)
            executor.submit_write(key, write(key, seq, t * kPerThread + seq));
    });
    ASSERT_TRUE(done_.wait_for(kThreads * kPerThread));
    std::vector<std::int64_t> expected(kPerThread);
    for (int i = 0; i < kPerThread; ++i) expected[i] = i;
    for (int t = 0; t < kThreads; ++t)
        EXPECT_EQ(committed_order(path_, "thread_" + std::to_string(t)), expected);
    for (int i = 0; i < kThreads * kPerThread; ++i) EXPECT_EQ(done_.calls(i), 1) << i;
    const BatchFigures stats = settled_stats(executor, stats_);
    EXPECT_EQ(stats.writes, std::uint64_t{kThreads * kPerThread});
    EXPECT_LE(stats.batches, stats.writes);
}

TEST_F(ExecutorTest, WritesQueuedWhileTheWriterIsBusyShareOneBatch) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    hold_writer(executor, 0);
    constexpr int kQueued = 50;
    for (int i = 0; i < kQueued; ++i) executor.submit_write("k", write("k", i, 1 + i));
    // Nothing queued behind the blocker can have committed yet.
    EXPECT_EQ(RawDb(path_).integer("SELECT count(*) FROM t"), 0);
    gate_.open();
    ASSERT_TRUE(done_.wait_for(1 + kQueued));
    const BatchFigures stats = settled_stats(executor, stats_);
    EXPECT_EQ(stats.writes, std::uint64_t{1 + kQueued});
    EXPECT_EQ(stats.batches, 2u);  // the blocker alone, then everything queued behind it
    EXPECT_EQ(stats.largest_batch, std::uint64_t{kQueued});
    EXPECT_EQ(RawDb(path_).integer("SELECT count(*) FROM t"), 1 + kQueued);
}

TEST_F(ExecutorTest, MaxBatchSplitsALongQueue) {
    SqlExecutor executor(db_, 0, 8, &stats_);
    hold_writer(executor, 0);
    for (int i = 0; i < 50; ++i) executor.submit_write("k", write("k", i, 1 + i));
    gate_.open();
    ASSERT_TRUE(done_.wait_for(51));
    const BatchFigures stats = settled_stats(executor, stats_);
    EXPECT_EQ(stats.largest_batch, 8u);
    EXPECT_EQ(stats.batches, 1u + 7u);  // 50 = 6 * 8 + 2
    std::vector<std::int64_t> expected(50);
    for (int i = 0; i < 50; ++i) expected[i] = i;
    EXPECT_EQ(committed_order(path_, "k"), expected);
}

TEST_F(ExecutorTest, AFailingStepFailsOnlyItsOwnJob) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    hold_writer(executor, 0);
    constexpr int kQueued = 20;
    for (int i = 0; i < kQueued; ++i) {
        const std::size_t index = 1 + i;
        if (i == 7) {
            // Writes a row, then fails: the row must go with it.
            executor.submit_write("k",
                                  Job<Connection>{[](Connection& c) {
                                                      insert(c, "k", 7);
                                                      throw std::runtime_error("step 7 failed");
                                                  },
                                                  done_.callback(index)});
        } else if (i == 12) {
            // SQLite refuses this one: (k, 11) already exists.
            executor.submit_write("k", write("k", 11, index));
        } else {
            executor.submit_write("k", write("k", i, index));
        }
    }
    gate_.open();
    ASSERT_TRUE(done_.wait_for(1 + kQueued));
    EXPECT_EQ(settled_stats(executor, stats_).largest_batch, std::uint64_t{kQueued});  // one batch
    for (int i = 0; i < kQueued; ++i) {
        const std::exception_ptr error = done_.error(1 + i);
        if (i == 7) {
            ASSERT_TRUE(error);
            EXPECT_EQ(message_of(error), "step 7 failed");
        } else if (i == 12) {
            ASSERT_TRUE(error);
            EXPECT_EQ(kind_of(error), StoreErrorKind::Other);
            EXPECT_NE(message_of(error).find("UNIQUE"), std::string::npos) << message_of(error);
        } else {
            EXPECT_FALSE(error) << i << ": " << message_of(error);
        }
    }
    std::vector<std::int64_t> expected;
    for (int i = 0; i < kQueued; ++i)
        if (i != 7 && i != 12) expected.push_back(i);
    EXPECT_EQ(committed_order(path_, "k"), expected);
    EXPECT_EQ(RawDb(path_).integer("SELECT count(*) FROM t WHERE k = 'blocker'"), 1);
}

TEST_F(ExecutorTest, AWriteCompletesOnlyOnceItIsCommitted) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    hold_writer(executor, 0);
    constexpr int kQueued = 20;
    std::vector<std::int64_t> seen(kQueued, -1);
    std::mutex seen_mutex;
    for (int i = 0; i < kQueued; ++i) {
        auto record = done_.callback(1 + i);
        executor.submit_write(
            "k", Job<Connection>{[i](Connection& c) { insert(c, "k", i); },
                                 [&, i, record](std::exception_ptr error) {
                                     // Another connection, as another thread or process would use.
                                     std::int64_t count = -2;
                                     try {
                                         count = RawDb(path_).integer(
                                             "SELECT count(*) FROM t WHERE k = 'k' AND seq = " +
                                             std::to_string(i));
                                     } catch (...) {
                                     }
                                     {
                                         std::lock_guard<std::mutex> lock(seen_mutex);
                                         seen[i] = count;
                                     }
                                     record(error);
                                 }});
    }
    gate_.open();
    ASSERT_TRUE(done_.wait_for(1 + kQueued));
    std::lock_guard<std::mutex> lock(seen_mutex);
    for (int i = 0; i < kQueued; ++i) EXPECT_EQ(seen[i], 1) << i;
}

TEST_F(ExecutorTest, AReadWaitsForPendingWritesOfItsKeyOnly) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    hold_writer(executor, 0);
    for (int i = 0; i < 10; ++i) executor.submit_write("a", write("a", i, 1 + i));
    std::int64_t a_count = -1;
    std::int64_t b_count = -1;
    std::thread::id a_thread;
    std::thread::id b_thread;
    executor.submit_read("a", Job<Connection>{[&](Connection& c) {
                                                  a_count = count_key(c, "a");
                                                  a_thread = std::this_thread::get_id();
                                              },
                                              done_.callback(100)});
    executor.submit_read("b", Job<Connection>{[&](Connection& c) {
                                                  b_count = count_key(c, "b");
                                                  b_thread = std::this_thread::get_id();
                                              },
                                              done_.callback(200)});
    // The read of "b" has no pending writes: a reader thread runs it while the writer is
    // still held. The read of "a" stays queued behind the writes of "a".
    ASSERT_TRUE(done_.wait_for(1));
    EXPECT_EQ(done_.order(), std::vector<std::size_t>{200});
    EXPECT_EQ(b_count, 0);
    EXPECT_NE(b_thread, writer_thread_);
    EXPECT_FALSE(done_.finished(100));
    gate_.open();
    ASSERT_TRUE(done_.wait_for(1 + 10 + 2));
    EXPECT_FALSE(done_.error(100)) << message_of(done_.error(100));
    EXPECT_EQ(a_count, 10);
    EXPECT_EQ(a_thread, writer_thread_);
    const auto order = done_.order();
    const auto position = [&](std::size_t index) {
        return std::find(order.begin(), order.end(), index) - order.begin();
    };
    for (std::size_t i = 1; i <= 10; ++i) EXPECT_LT(position(i), position(100)) << i;
    EXPECT_EQ(settled_stats(executor, stats_).writes, 1u + 10u);  // the reads are not batched
}

TEST_F(ExecutorTest, AReadWithNoPendingWritesSeesEarlierCommits) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    for (int i = 0; i < 5; ++i) executor.submit_write("a", write("a", i, i));
    ASSERT_TRUE(done_.wait_for(5));
    std::int64_t count = -1;
    executor.submit_read("a", Job<Connection>{[&](Connection& c) { count = count_key(c, "a"); },
                                              done_.callback(100)});
    ASSERT_TRUE(done_.wait_for(6));
    EXPECT_EQ(count, 5);
}

TEST_F(ExecutorTest, AReadThatThrowsReportsItsErrorAndOthersGoOn) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    executor.submit_read(
        "a", Job<Connection>{[](Connection&) { throw std::runtime_error("read failed"); },
                             done_.callback(0)});
    executor.submit_read(
        "a", Job<Connection>{[](Connection& c) { count_key(c, "a"); }, done_.callback(1)});
    ASSERT_TRUE(done_.wait_for(2));
    EXPECT_EQ(message_of(done_.error(0)), "read failed");
    EXPECT_FALSE(done_.error(1));
    EXPECT_EQ(done_.calls(0), 1);
}

TEST_F(ExecutorTest, ABatchThatCannotBeginFailsEveryJobOnceWithoutRunningIt) {
    Database db(dir_.file("busy.db"), {sqlite::Durability::Normal, std::chrono::milliseconds(50)},
                kSchema);
    SqlExecutor executor(db, 0, 1024, &stats_);
    RawDb holder(dir_.file("busy.db"));
    holder.exec("BEGIN IMMEDIATE");
    std::atomic<int> runs{0};
    for (int i = 0; i < 5; ++i)
        executor.submit_write("k",
                              Job<Connection>{[&](Connection&) { ++runs; }, done_.callback(i)});
    ASSERT_TRUE(done_.wait_for(5));
    holder.exec("ROLLBACK");
    EXPECT_EQ(runs.load(), 0);
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(done_.calls(i), 1);
        ASSERT_TRUE(done_.error(i));
        EXPECT_EQ(kind_of(done_.error(i)), StoreErrorKind::Busy);
    }
    // The writer recovers once the lock is gone.
    executor.submit_write(
        "k", Job<Connection>{[](Connection& c) { insert(c, "k", 1); }, done_.callback(9)});
    ASSERT_TRUE(done_.wait_for(6));
    EXPECT_FALSE(done_.error(9)) << message_of(done_.error(9));
}

TEST_F(ExecutorTest, AnExclusiveJobHasTheWriterConnectionOutsideAnyTransaction) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    hold_writer(executor, 0);
    bool was_in_transaction = true;
    std::thread::id thread;
    executor.submit_exclusive("x", Job<Connection>{[&](Connection& c) {
                                                       was_in_transaction = c.in_transaction();
                                                       thread = std::this_thread::get_id();
                                                       // Its own transaction: BEGIN would fail
                                                       // inside another one.
                                                       c.execute("BEGIN IMMEDIATE");
                                                       insert(c, "x", 0);
                                                       c.execute("COMMIT");
                                                   },
                                                   done_.callback(1)});
    gate_.open();
    ASSERT_TRUE(done_.wait_for(2));
    EXPECT_FALSE(done_.error(1)) << message_of(done_.error(1));
    EXPECT_FALSE(was_in_transaction);
    EXPECT_EQ(thread, writer_thread_);
    EXPECT_EQ(RawDb(path_).integer("SELECT count(*) FROM t WHERE k = 'x'"), 1);
    // It is no write of a group commit.
    EXPECT_EQ(settled_stats(executor, stats_).writes, 1u);
}

TEST_F(ExecutorTest, AnExclusiveJobRunsAloneAfterTheWritesBeforeItAndBeforeTheWritesAfterIt) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    hold_writer(executor, 0);
    for (int i = 0; i < 5; ++i) executor.submit_write("a", write("a", i, 1 + i));
    bool was_in_transaction = true;
    std::int64_t committed_before = -1;
    std::int64_t written_after = -1;
    executor.submit_exclusive("x", Job<Connection>{[&](Connection& c) {
                                                       was_in_transaction = c.in_transaction();
                                                       // Seen from another connection: committed,
                                                       // not just written.
                                                       committed_before = RawDb(path_).integer(
                                                           "SELECT count(*) FROM t WHERE k = 'a'");
                                                       written_after = count_key(c, "b");
                                                   },
                                                   done_.callback(100)});
    // Another key: only the queue's order puts these after the exclusive job.
    for (int i = 0; i < 5; ++i) executor.submit_write("b", write("b", i, 6 + i));
    gate_.open();
    ASSERT_TRUE(done_.wait_for(1 + 5 + 1 + 5));
    EXPECT_FALSE(was_in_transaction);
    EXPECT_EQ(committed_before, 5);
    EXPECT_EQ(written_after, 0);
    const auto order = done_.order();
    const auto position = [&](std::size_t index) {
        return std::find(order.begin(), order.end(), index) - order.begin();
    };
    for (std::size_t i = 1; i <= 5; ++i) EXPECT_LT(position(i), position(100)) << i;
    for (std::size_t i = 6; i <= 10; ++i) EXPECT_GT(position(i), position(100)) << i;
    for (std::size_t i = 0; i <= 10; ++i)
        EXPECT_FALSE(done_.error(i)) << message_of(done_.error(i));
    const BatchFigures stats = settled_stats(executor, stats_);
    EXPECT_EQ(stats.batches, 3u);  // the blocker; the five before; the five after
    EXPECT_EQ(stats.largest_batch, 5u);
    EXPECT_EQ(stats.writes, 11u);
}

TEST_F(ExecutorTest, WhileAnExclusiveJobRunsWritesWaitAndReadsOnReadersGoOn) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    executor.submit_exclusive("x", Job<Connection>{[this](Connection&) {
                                                       writer_thread_ = std::this_thread::get_id();
                                                       started_.set_value();
                                                       gate_.wait();
                                                   },
                                                   done_.callback(0)});
    ASSERT_EQ(started_.get_future().wait_for(kPatience), std::future_status::ready);
    executor.submit_write("w", write("w", 0, 1));
    std::thread::id same_key_thread;
    executor.submit_read(
        "x", Job<Connection>{[&](Connection&) { same_key_thread = std::this_thread::get_id(); },
                             done_.callback(2)});
    std::int64_t seen = -1;
    executor.submit_read(
        "r", Job<Connection>{[&](Connection& c) { seen = count_key(c, "w"); }, done_.callback(3)});
    // The read of another key runs on a reader thread while the writer thread is held.
    ASSERT_TRUE(done_.wait_for(1));
    EXPECT_EQ(done_.order(), std::vector<std::size_t>{3});
    EXPECT_EQ(seen, 0);
    // The write and the read of the exclusive job's key are queued behind it on the writer.
    EXPECT_FALSE(done_.finished(1));
    EXPECT_FALSE(done_.finished(2));
    gate_.open();
    ASSERT_TRUE(done_.wait_for(4));
    EXPECT_EQ(done_.order(), (std::vector<std::size_t>{3, 0, 1, 2}));
    EXPECT_EQ(same_key_thread, writer_thread_);
}

TEST_F(ExecutorTest, AFailingExclusiveJobFailsAloneAndKeepsWhatItCommitted) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    hold_writer(executor, 0);
    executor.submit_write("a", write("a", 0, 1));
    executor.submit_exclusive("x", Job<Connection>{[](Connection& c) {
                                                       insert(c, "x", 0);  // autocommit
                                                       throw std::runtime_error("exclusive failed");
                                                   },
                                                   done_.callback(2)});
    executor.submit_exclusive(
        "x", Job<Connection>{[](Connection& c) { c.execute("INSERT INTO missing VALUES (1)"); },
                             done_.callback(3)});
    executor.submit_write("a", write("a", 1, 4));
    gate_.open();
    ASSERT_TRUE(done_.wait_for(5));
    EXPECT_FALSE(done_.error(1)) << message_of(done_.error(1));
    EXPECT_EQ(message_of(done_.error(2)), "exclusive failed");
    ASSERT_TRUE(done_.error(3));
    EXPECT_NE(message_of(done_.error(3)).find("missing"), std::string::npos);
    EXPECT_FALSE(done_.error(4)) << message_of(done_.error(4));
    EXPECT_EQ(done_.calls(2), 1);
    EXPECT_EQ(committed_order(path_, "a"), (std::vector<std::int64_t>{0, 1}));
    // No transaction of the executor's was open to take the job's own write with it.
    EXPECT_EQ(committed_order(path_, "x"), (std::vector<std::int64_t>{0}));
}

TEST_F(ExecutorTest, AReadSubmittedOnceAnExclusiveJobCompletedGoesToAReader) {
    // As for writes, an exclusive job's key stops holding reads on the writer thread before
    // the job completes: a read its completion submits runs on a reader thread.
    SqlExecutor executor(db_, 0, 1024, &stats_);
    std::thread::id exclusive_thread;
    std::thread::id read_thread;
    const auto read_done = done_.callback(1);
    const auto exclusive_done = done_.callback(0);
    executor.submit_exclusive(
        "x", Job<Connection>{[&](Connection&) { exclusive_thread = std::this_thread::get_id(); },
                             [&](std::exception_ptr error) {
                                 executor.submit_read(
                                     "x", Job<Connection>{[&](Connection&) {
                                                              read_thread =
                                                                  std::this_thread::get_id();
                                                          },
                                                          read_done});
                                 exclusive_done(error);
                             }});
    ASSERT_TRUE(done_.wait_for(2));
    EXPECT_NE(read_thread, exclusive_thread);
}

TEST_F(ExecutorTest, ShutdownRunsQueuedExclusiveJobsThenRefusesThem) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    hold_writer(executor, 0);
    for (std::size_t i = 1; i <= 3; ++i)
        executor.submit_exclusive(
            "x", Job<Connection>{[i](Connection& c) { insert(c, "x", static_cast<int>(i)); },
                                 done_.callback(i)});
    auto stopping = std::async(std::launch::async, [&] { executor.shutdown(); });
    gate_.open();
    ASSERT_EQ(stopping.wait_for(kPatience), std::future_status::ready);
    EXPECT_EQ(done_.done(), 4u);
    EXPECT_EQ(committed_order(path_, "x"), (std::vector<std::int64_t>{1, 2, 3}));
    try {
        executor.submit_exclusive("x", Job<Connection>{[](Connection&) {}, done_.callback(9)});
        ADD_FAILURE() << "submit_exclusive after shutdown did not throw";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.kind(), StoreErrorKind::Closed);
    }
    EXPECT_FALSE(done_.finished(9));
}

TEST_F(ExecutorTest, ShutdownRunsEveryQueuedJobThenRefusesNewOnes) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    hold_writer(executor, 0);
    std::size_t next = 1;
    for (int i = 0; i < 100; ++i, ++next)
        executor.submit_write("w" + std::to_string(i % 7),
                              write("w" + std::to_string(i % 7), i, next));
    for (int i = 0; i < 20; ++i, ++next) {
        // Some keys have pending writes (writer queue), some do not (reader queue).
        const std::string key = i % 2 == 0 ? "w" + std::to_string(i % 7) : "idle";
        executor.submit_read(key, Job<Connection>{[key](Connection& c) { count_key(c, key); },
                                                  done_.callback(next)});
    }
    auto stopping = std::async(std::launch::async, [&] { executor.shutdown(); });
    // Jobs submitted until shutdown() starts refusing are accepted and must run too.
    std::size_t accepted_late = 0;
    for (;;) {
        try {
            executor.submit_write("late", write("late", static_cast<std::int64_t>(next), next));
            ++next;
            ++accepted_late;
        } catch (const StoreError& e) {
            EXPECT_EQ(e.kind(), StoreErrorKind::Closed);
            break;
        }
        ASSERT_LT(accepted_late, 100000u) << "shutdown() never started refusing jobs";
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    EXPECT_EQ(stopping.wait_for(std::chrono::milliseconds(0)), std::future_status::timeout)
        << "shutdown() returned while the writer was still held";
    gate_.open();
    ASSERT_EQ(stopping.wait_for(kPatience), std::future_status::ready);
    stopping.get();
    EXPECT_EQ(done_.done(), next);  // shutdown() returns only after every completion
    for (std::size_t i = 0; i < next; ++i) {
        EXPECT_EQ(done_.calls(i), 1) << i;
        EXPECT_FALSE(done_.error(i)) << i << ": " << message_of(done_.error(i));
    }
    EXPECT_EQ(RawDb(path_).integer("SELECT count(*) FROM t"),
              static_cast<std::int64_t>(1 + 100 + accepted_late));
    try {
        executor.submit_write("k", write("k", 0, 999));
        ADD_FAILURE() << "submit_write after shutdown did not throw";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.kind(), StoreErrorKind::Closed);
    }
    try {
        executor.submit_read("k", Job<Connection>{[](Connection&) {}, done_.callback(998)});
        ADD_FAILURE() << "submit_read after shutdown did not throw";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.kind(), StoreErrorKind::Closed);
    }
    executor.shutdown();  // idempotent
    EXPECT_FALSE(done_.finished(998));
    EXPECT_FALSE(done_.finished(999));
}

TEST_F(ExecutorTest, StopAcceptingRefusesNewJobsAtOnceAndLetsQueuedOnesRun) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    hold_writer(executor, 0);
    for (int i = 0; i < 5; ++i) executor.submit_write("k", write("k", i, 1 + i));
    executor.stop_accepting();  // returns with the writer still held: it waits for nothing
    EXPECT_EQ(done_.done(), 0u);
    for (auto submit :
         {&SqlExecutor::submit_write, &SqlExecutor::submit_read, &SqlExecutor::submit_exclusive}) {
        try {
            (executor.*submit)("k", Job<Connection>{[](Connection&) {}, done_.callback(99)});
            ADD_FAILURE() << "a job was accepted after stop_accepting()";
        } catch (const StoreError& e) {
            EXPECT_EQ(e.kind(), StoreErrorKind::Closed);
        }
    }
    gate_.open();
    ASSERT_TRUE(done_.wait_for(6));
    executor.shutdown();
    for (std::size_t i = 0; i <= 5; ++i) EXPECT_FALSE(done_.error(i)) << i;
    EXPECT_FALSE(done_.finished(99));
    EXPECT_EQ(committed_order(path_, "k"), (std::vector<std::int64_t>{0, 1, 2, 3, 4}));
}

TEST_F(ExecutorTest, StopAcceptingBeforeAnyJobRefusesTheFirst) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    executor.stop_accepting();
    EXPECT_THROW(executor.submit_read("k", Job<Connection>{[](Connection&) {}, done_.callback(0)}),
                 StoreError);
    executor.shutdown();
    EXPECT_FALSE(done_.finished(0));
}

TEST_F(ExecutorTest, DestructorCompletesQueuedJobs) {
    std::thread opener;
    {
        SqlExecutor executor(db_, 0, 1024, &stats_);
        hold_writer(executor, 0);
        for (int i = 0; i < 30; ++i) executor.submit_write("k", write("k", i, 1 + i));
        opener = std::thread([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            gate_.open();
        });
    }  // ~Executor waits here until the gate opens and the queue drains
    opener.join();
    EXPECT_EQ(done_.done(), 31u);
    EXPECT_EQ(RawDb(path_).integer("SELECT count(*) FROM t"), 31);
}

TEST_F(ExecutorTest, ShutdownOfAnUnusedExecutorStartsNoThreads) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    executor.shutdown();
    EXPECT_THROW(executor.submit_write("k", write("k", 0, 0)), StoreError);
    EXPECT_EQ(stats_.figures().batched_writes, 0u);
}

TEST_F(ExecutorTest, ConcurrentShutdownCallsAreSafe) {
    // close() from two Python threads, or close() racing a finalizer, calls shutdown() twice.
    SqlExecutor executor(db_, 0, 1024, &stats_);
    hold_writer(executor, 0);
    for (int i = 0; i < 20; ++i) executor.submit_write("k", write("k", i, 1 + i));
    std::vector<std::future<void>> callers;
    for (int i = 0; i < 4; ++i)
        callers.push_back(std::async(std::launch::async, [&] { executor.shutdown(); }));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    gate_.open();
    for (auto& caller : callers) {
        ASSERT_EQ(caller.wait_for(kPatience), std::future_status::ready);
        EXPECT_NO_THROW(caller.get());
    }
    EXPECT_EQ(done_.done(), 21u);
}

TEST_F(ExecutorTest, ShutdownReturnsOnlyAfterTheLastCompletion) {
    // Every caller of shutdown() (not just the first) may rely on the work being done.
    SqlExecutor executor(db_, 0, 1024, &stats_);
    hold_writer(executor, 0);
    for (int i = 0; i < 20; ++i) executor.submit_write("k", write("k", i, 1 + i));
    auto first = std::async(std::launch::async, [&] { executor.shutdown(); });
    // Wait until the first call has begun stopping, then a second caller arrives.
    for (;;) {
        try {
            executor.submit_read("probe",
                                 Job<Connection>{[](Connection&) {}, [](std::exception_ptr) {}});
        } catch (const StoreError&) {
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    auto second = std::async(std::launch::async, [&] {
        executor.shutdown();
        return done_.done();
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    gate_.open();
    ASSERT_EQ(second.wait_for(kPatience), std::future_status::ready);
    EXPECT_EQ(second.get(), 21u);
    first.get();
}

TEST_F(ExecutorTest, ForkedChildStartsItsOwnThreads) {
    SqlExecutor executor(db_, 0, 1024, &stats_);
    executor.submit_write("parent", write("parent", 0, 0));
    ASSERT_TRUE(done_.wait_for(1));
    // Fork only once the threads wait for work: under AddressSanitizer a thread inside the
    // allocator at fork() (one just started, or freeing a finished job) leaves the child's
    // allocator locked forever. glibc's malloc takes its locks around fork(), so users'
    // processes are not at risk of this; see wait_idle().
    ASSERT_TRUE(executor.wait_idle(kPatience));
    const auto result = run_in_child([&](std::string& message) {
        std::promise<std::exception_ptr> finished;
        executor.submit_write(
            "child", Job<Connection>{[](Connection& c) { insert(c, "child", 0); },
                                     [&](std::exception_ptr error) { finished.set_value(error); }});
        auto future = finished.get_future();
        if (future.wait_for(kPatience) != std::future_status::ready) {
            message = "the child's write never completed";
            return 1;
        }
        if (auto error = future.get()) {
            message = "child write failed: " + message_of(error);
            return 2;
        }
        if (RawDb(path_).integer("SELECT count(*) FROM t WHERE k = 'child'") != 1) {
            message = "the child's write is not visible";
            return 3;
        }
        executor.shutdown();
        return 0;
    });
    EXPECT_EQ(result.exit_code, 0) << result.message;
    executor.submit_write("parent", write("parent", 1, 1));
    ASSERT_TRUE(done_.wait_for(2));
    EXPECT_FALSE(done_.error(1)) << message_of(done_.error(1));
    EXPECT_EQ(RawDb(path_).integer("SELECT count(*) FROM t"), 3);
    EXPECT_EQ(RawDb(path_).text("PRAGMA integrity_check"), "ok");
}

}  // namespace
}  // namespace asap_native::testing
