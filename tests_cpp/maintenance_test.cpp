// Maintenance of a database file: retention rules (snapshots and usage events, chunked, against
// oracles), online backups while a writer writes, integrity and schema checks, figures, and
// read-only opening.
#include "asap_native/sqlite/maintenance.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "asap_native/errors.hpp"
#include "asap_native/retention.hpp"
#include "asap_native/sqlite/transaction.hpp"
#include "asap_native/sqlite_metering_store.hpp"
#include "asap_native/sqlite_snapshot_store.hpp"
#include "asap_native/timestamp.hpp"
#include "asap_native/usage_index.hpp"
#include "test_support.hpp"

namespace asap_native::testing {
namespace {

constexpr InstantMicros kHour = 3600LL * 1000000;

class MaintenanceTest : public ::testing::Test {
protected:
    TempDir dir_;
    std::string path_ = dir_.file("state.db");
};

std::int64_t run_to_end(SqliteEngine& engine, RetentionJob& job, std::int64_t chunk,
                        int* steps = nullptr) {
    std::int64_t total = 0;
    while (!job.done()) {
        const std::int64_t deleted = run_retention_step(engine, job);
        EXPECT_LE(deleted, chunk);
        total += deleted;
        if (steps != nullptr) ++*steps;
    }
    EXPECT_EQ(total, job.deleted());
    return total;
}

// ---- snapshot retention ----

TEST_F(MaintenanceTest, SnapshotRetentionKeepsTheHighestVersionsOfEveryTask) {
    SqliteSnapshotStore store(path_);
    std::map<std::string, std::vector<std::int64_t>> versions;
    std::mt19937 random(7);
    for (int t = 0; t < 40; ++t) {
        const std::string task = t == 0 ? "" : "task_" + std::to_string(t);  // "" is a task too
        const int count = static_cast<int>(random() % 12);
        for (int i = 0; i < count; ++i) {
            const std::int64_t version = 1 + static_cast<std::int64_t>(random() % 1000);
            store.save(make_snapshot(task, version));
        }
        versions[task] = store.list_versions(task);
    }
    auto job = snapshot_retention(std::nullopt, 3, 7);
    std::int64_t expected = 0;
    for (const auto& [task, list] : versions)
        expected += std::max<std::int64_t>(0, static_cast<std::int64_t>(list.size()) - 3);
    EXPECT_EQ(store.engine()->read(StoreOperation::Check,
                                   [&](sqlite::Connection& c) { return job->count_remaining(c); }),
              expected);
    int steps = 0;
    EXPECT_EQ(run_to_end(*store.engine(), *job, 7, &steps), expected);
    EXPECT_GE(steps, static_cast<int>(expected / 7));
    for (const auto& [task, list] : versions) {
        const std::vector<std::int64_t> kept(list.end() - std::min<std::size_t>(3, list.size()),
                                             list.end());
        EXPECT_EQ(store.list_versions(task), kept) << task;
    }
    EXPECT_EQ(store.stats().operations[static_cast<int>(StoreOperation::Prune)].count,
              static_cast<std::uint64_t>(steps));
}

TEST_F(MaintenanceTest, SnapshotRetentionOfOneTaskLeavesTheOthers) {
    SqliteSnapshotStore store(path_);
    for (int v = 1; v <= 10; ++v) {
        store.save(make_snapshot("mine", v));
        store.save(make_snapshot("other", v));
    }
    auto job = snapshot_retention(std::string("mine"), 2, 3);
    EXPECT_EQ(run_to_end(*store.engine(), *job, 3), 8);
    EXPECT_EQ(store.list_versions("mine"), (std::vector<std::int64_t>{9, 10}));
    EXPECT_EQ(store.list_versions("other").size(), 10u);
    auto again = snapshot_retention(std::string("mine"), 2, 3);
    EXPECT_EQ(run_to_end(*store.engine(), *again, 3), 0);
}

TEST_F(MaintenanceTest, RetentionArgumentsAndMissingTables) {
    EXPECT_THROW(snapshot_retention(std::nullopt, 0, 10), InvalidArgument);
    EXPECT_THROW(snapshot_retention(std::nullopt, 1, 0), InvalidArgument);
    EXPECT_THROW(usage_retention(0, 0), InvalidArgument);
    auto engine = open_sqlite_engine(path_);  // no tables at all
    auto snapshots = snapshot_retention(std::nullopt, 1, 10);
    auto usage = usage_retention(0, 10);
    EXPECT_EQ(run_to_end(*engine, *snapshots, 10), 0);
    EXPECT_EQ(run_to_end(*engine, *usage, 10), 0);
}

// ---- usage retention ----

TEST_F(MaintenanceTest, UsageRetentionDeletesExactlyTheEventsBeforeTheInstant) {
    SqliteMeteringStore store(path_, {}, MeteringOptions{false});
    std::mt19937 random(3);
    const InstantMicros base = utc(2024, 5, 17, 12);
    const int offsets[] = {0, 120, -420, 899, -899, 1439, -1439};
    std::vector<std::pair<InstantMicros, std::string>> events;
    for (int i = 0; i < 3000; ++i) {
        const InstantMicros instant =
            base + static_cast<InstantMicros>(random() % (96 * 3600)) * 1000000 - 48 * kHour;
        const int offset = offsets[random() % 7];
        const InstantMicros wall = instant + offset * 60LL * 1000000;
        char suffix[16];
        std::snprintf(suffix, sizeof suffix, "%c%02d:%02d", offset < 0 ? '-' : '+',
                      std::abs(offset) / 60, std::abs(offset) % 60);
        std::string text = utc_minute_text(wall);
        if (random() % 4 == 0) text[10] = ' ';
        text += ":00";
        text += suffix;
        const std::string agent = "agent_" + std::to_string(random() % 6);
        store.record(make_event(agent, text));
        events.emplace_back(*parse_iso8601(text), agent);
    }
    {
        RawDb raw(path_);  // timestamps no parser reads are never pruned
        raw.exec(
            "INSERT INTO usage_events VALUES ('evt_bad1', 't', 'agent_1', 'c', '{}', "
            "'not a time'), ('evt_bad2', 't', 'agent_1', 'c', '{}', '')");
    }
    const InstantMicros cutoff = base + 1234 * 1000000;
    std::int64_t expected = 0;
    for (const auto& event : events) expected += event.first < cutoff;
    auto job = usage_retention(cutoff, 50);
    EXPECT_EQ(store.engine()->read(StoreOperation::Check,
                                   [&](sqlite::Connection& c) { return job->count_remaining(c); }),
              expected);
    EXPECT_EQ(run_to_end(*store.engine(), *job, 50), expected);
    RawDb raw(path_);
    EXPECT_EQ(raw.integer("SELECT count(*) FROM usage_events"),
              static_cast<std::int64_t>(events.size()) - expected + 2);
    const auto left = store.query("agent_1", kMinInstant, kMaxInstant, {});
    for (const auto& event : left) EXPECT_GE(*parse_iso8601(event.timestamp), cutoff);
    EXPECT_EQ(raw.integer("SELECT count(*) FROM usage_events WHERE id LIKE 'evt_bad%'"), 2);
}

TEST_F(MaintenanceTest, UsageRetentionStepsAsQueuedWritesBesideOtherWrites) {
    SqliteMeteringStore store(path_);
    for (int i = 0; i < 500; ++i)
        store.record(
            make_event("agent", i < 300 ? "2024-01-01T00:00:00Z" : "2024-06-01T00:00:00Z"));
    auto job = usage_retention(utc(2024, 3, 1), 40);
    std::int64_t total = 0;
    int steps = 0;
    while (!job->done()) {
        ++steps;
        std::promise<std::int64_t> step;
        run_retention_step_queued(*store.engine(), job,
                                  [&](std::int64_t rows, std::exception_ptr error) {
                                      if (error)
                                          step.set_exception(error);
                                      else
                                          step.set_value(rows);
                                  });
        std::promise<void> write;
        store.record_queued(make_event("agent", "2024-07-01T00:00:00Z"),
                            [&](Nothing, std::exception_ptr) { write.set_value(); });
        const std::int64_t rows = step.get_future().get();
        write.get_future().get();
        EXPECT_LE(rows, 40);
        total += rows;
    }
    EXPECT_EQ(total, 300);
    EXPECT_EQ(steps, 8);  // 7 full chunks, then the last 20 rows
    EXPECT_EQ(store.aggregate("agent", "day").total_tasks, 200 + steps);
}

// ---- backup ----

TEST_F(MaintenanceTest, BackupIsOneConsistentStateWhileAWriterCommits) {
    SqliteSnapshotStore store(path_);
    for (int v = 1; v <= 2000; ++v) store.save(make_snapshot("base", v, std::string(500, 'x')));
    // The writer commits pairs: a copy with an odd count would hold half a commit.
    std::atomic<bool> stop{false};
    std::atomic<int> pairs{0};
    std::thread writer([&] {
        RawDb raw(path_);
        for (int i = 0; !stop.load(); ++i) {
            raw.exec("BEGIN IMMEDIATE");
            for (int half = 0; half < 2; ++half)
                raw.exec("INSERT INTO snapshots VALUES ('pairs', 'id', " +
                         std::to_string(2 * i + half + 1) + ", '{}', 0, '2024-01-01')");
            raw.exec("COMMIT");
            ++pairs;
        }
    });
    while (pairs.load() < 5) std::this_thread::yield();
    const int committed_at_start = pairs.load();
    std::vector<std::pair<std::int64_t, std::int64_t>> steps;
    const std::string copy = dir_.file("copy.db");
    store.engine()->read(StoreOperation::Backup, [&](sqlite::Connection& c) {
        sqlite::backup_database(c, copy, 16, [&](std::int64_t done, std::int64_t total) {
            steps.emplace_back(done, total);
            std::this_thread::sleep_for(std::chrono::milliseconds(1));  // let the writer in
        });
    });
    const int committed_before_end = pairs.load();
    stop = true;
    writer.join();
    ASSERT_GT(steps.size(), 10u);
    EXPECT_EQ(steps.back().first, steps.back().second);
    RawDb raw(copy);
    EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
    const std::int64_t copied =
        raw.integer("SELECT count(*) FROM snapshots WHERE task_id = 'pairs'");
    EXPECT_EQ(copied % 2, 0);
    // Every pair committed before the copy began, none of the many committed during it.
    EXPECT_GE(copied / 2, committed_at_start);
    EXPECT_GT(committed_before_end, copied / 2 + 10);
    EXPECT_EQ(raw.integer("SELECT count(*) FROM snapshots WHERE task_id = 'base'"), 2000);
    EXPECT_EQ(file_mode(copy), 0600);
}

TEST_F(MaintenanceTest, BackupRefusesAnExistingFileAndRemovesAFailedCopy) {
    SqliteSnapshotStore store(path_);
    for (int v = 1; v <= 200; ++v) store.save(make_snapshot("t", v, std::string(500, 'x')));
    const std::string copy = dir_.file("copy.db");
    write_file(copy, "keep me");
    try {
        store.engine()->read(StoreOperation::Backup, [&](sqlite::Connection& c) {
            sqlite::backup_database(c, copy, 0, {});
        });
        ADD_FAILURE() << "overwrote a file";
    } catch (const PathError& e) {
        EXPECT_EQ(e.error_number(), EEXIST);
    }
    EXPECT_EQ(read_file(copy), "keep me");
    const std::string failed = dir_.file("failed.db");
    EXPECT_THROW(store.engine()->read(StoreOperation::Backup,
                                      [&](sqlite::Connection& c) {
                                          sqlite::backup_database(
                                              c, failed, 4, [](std::int64_t, std::int64_t) {
                                                  throw std::runtime_error("stop");
                                              });
                                      }),
                 std::runtime_error);
    EXPECT_NE(::access(failed.c_str(), F_OK), 0);
}

TEST_F(MaintenanceTest, BackupOfAnInMemoryStore) {
    SqliteMeteringStore store(":memory:");
    store.record(make_event("agent", "2024-05-17T08:30:00+02:00"));
    const std::string copy = dir_.file("memory_copy.db");
    store.engine()->read(StoreOperation::Backup,
                         [&](sqlite::Connection& c) { sqlite::backup_database(c, copy, 0, {}); });
    SqliteMeteringStore restored(copy);
    EXPECT_EQ(restored.aggregate("agent", "day").total_tasks, 1);
}

// ---- checks and figures ----

TEST_F(MaintenanceTest, CheckFindsACorruptPage) {
    {
        SqliteSnapshotStore store(path_);
        for (int v = 1; v <= 400; ++v) store.save(make_snapshot("t", v, std::string(300, 'y')));
        RawDb raw(path_);
        raw.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    }
    const std::string copy = dir_.file("corrupt.db");
    {
        std::string bytes = read_file(path_);
        ASSERT_GT(bytes.size(), 4096u * 20);
        for (std::size_t i = 4096 * 10; i < 4096 * 11; ++i) bytes[i] = static_cast<char>(i * 7);
        write_file(copy, bytes);
    }
    sqlite::ConnectionOptions options;
    options.read_only = true;
    auto engine = open_sqlite_engine(copy, options);
    try {
        const auto errors = engine->read(StoreOperation::Check, [](sqlite::Connection& c) {
            return sqlite::integrity_errors(c, false, 20);
        });
        EXPECT_FALSE(errors.empty());
    } catch (const StoreError& e) {
        EXPECT_EQ(e.kind(), StoreErrorKind::NotADatabase) << e.what();
    }
    auto sound = open_sqlite_engine(path_, options);
    EXPECT_TRUE(
        sound
            ->read(StoreOperation::Check,
                   [](sqlite::Connection& c) { return sqlite::integrity_errors(c, true, 20); })
            .empty());
}

TEST_F(MaintenanceTest, SchemaReportOfAsapFilesAndOfIncompatibleOnes) {
    {
        SqliteSnapshotStore snapshots(path_);
        SqliteMeteringStore metering(path_, {}, MeteringOptions{true});
    }
    auto engine = open_sqlite_engine(path_);
    const auto report = engine->read(
        StoreOperation::Check, [](sqlite::Connection& c) { return sqlite::asap_schema_report(c); });
    EXPECT_TRUE(report.compatible());
    ASSERT_EQ(report.notes.size(), 1u);
    EXPECT_NE(report.notes[0].find(kInstantIndexName), std::string::npos);

    const std::string other = dir_.file("other.db");
    {
        RawDb raw(other);
        raw.exec(
            "CREATE TABLE snapshots (task_id TEXT NOT NULL, id TEXT NOT NULL, version INTEGER "
            "NOT NULL, data BLOB NOT NULL, created_at TEXT NOT NULL, owner TEXT NOT NULL, "
            "PRIMARY KEY (task_id));"
            "CREATE TABLE usage_events (id TEXT PRIMARY KEY, task_id TEXT NOT NULL, agent_id "
            "TEXT NOT NULL, consumer_id TEXT NOT NULL, metrics TEXT NOT NULL, timestamp TEXT "
            "NOT NULL);"
            "CREATE INDEX idx_usage_agent_timestamp ON usage_events (agent_id);");
    }
    auto plain = open_sqlite_engine(other);
    plain->write(StoreOperation::Check, [](sqlite::Connection& c) {
        c.execute("CREATE INDEX bad ON usage_events (asap_instant(timestamp))");
    });
    const auto bad = plain->read(
        StoreOperation::Check, [](sqlite::Connection& c) { return sqlite::asap_schema_report(c); });
    std::string problems;
    for (const auto& p : bad.problems) problems += p + "\n";
    EXPECT_NE(problems.find("snapshots: column 'checkpoint' is missing"), std::string::npos);
    EXPECT_NE(problems.find("column 'data' is declared 'BLOB'"), std::string::npos);
    EXPECT_NE(problems.find("column 'owner' must be filled"), std::string::npos);
    EXPECT_NE(problems.find("primary key is (task_id)"), std::string::npos);
    EXPECT_NE(problems.find("index bad calls asap_instant()"), std::string::npos);
    std::string notes;
    for (const auto& n : bad.notes) notes += n + "\n";
    EXPECT_NE(notes.find("idx_usage_agent_timestamp is on (agent_id)"), std::string::npos);
    EXPECT_NE(notes.find("idx_usage_consumer_timestamp is missing"), std::string::npos);
}

TEST_F(MaintenanceTest, InfoCountsRowsAndPages) {
    {
        SqliteSnapshotStore snapshots(path_);
        SqliteMeteringStore metering(path_);
        for (int v = 1; v <= 5; ++v) snapshots.save(make_snapshot("t", v));
        metering.record(make_event("agent", "2024-05-17T08:30:00Z"));
    }
    sqlite::ConnectionOptions options;
    options.read_only = true;
    auto engine = open_sqlite_engine(path_, options);
    const auto info = engine->read(StoreOperation::Check,
                                   [](sqlite::Connection& c) { return sqlite::database_info(c); });
    ASSERT_EQ(info.tables.size(), 2u);
    EXPECT_EQ(info.tables[0].name, "snapshots");
    EXPECT_EQ(info.tables[0].rows, 5);
    EXPECT_EQ(info.tables[1].rows, 1);
    EXPECT_EQ(info.indexes.size(), 2u);  // asap-protocol's two
    EXPECT_EQ(info.journal_mode, "wal");
    EXPECT_EQ(info.page_size, 4096);
    EXPECT_GT(info.page_count, 3);
}

TEST_F(MaintenanceTest, ReadOnlyOpeningWritesNothingAndNeedsTheFile) {
    sqlite::ConnectionOptions options;
    options.read_only = true;
    try {
        open_sqlite_engine(dir_.file("missing.db"), options);
        ADD_FAILURE() << "opened a missing file";
    } catch (const PathError& e) {
        EXPECT_EQ(e.error_number(), ENOENT);
    }
    EXPECT_NE(::access(dir_.file("missing.db").c_str(), F_OK), 0);
    {
        RawDb raw(path_);
        raw.exec("CREATE TABLE t (x); INSERT INTO t VALUES (1)");  // rollback journal mode
    }
    auto engine = open_sqlite_engine(path_, options);
    EXPECT_THROW(
        engine->write(StoreOperation::Check,
                      [](sqlite::Connection& c) { c.execute("INSERT INTO t VALUES (2)"); }),
        StoreError);
    engine->close();
    RawDb raw(path_);
    EXPECT_EQ(raw.text("PRAGMA journal_mode"), "delete");
    EXPECT_EQ(raw.integer("SELECT count(*) FROM t"), 1);
}

}  // namespace
}  // namespace asap_native::testing
