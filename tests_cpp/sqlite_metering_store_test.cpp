// SqliteMeteringStore: the shared contract on a file and on ":memory:", plus persistence,
// a file shared with the snapshot store, asap-protocol's file format, event ids and errors.
#include "asap_native/sqlite_metering_store.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <limits>
#include <memory>
#include <set>
#include <thread>
#include <vector>

#include "asap_native/errors.hpp"
#include "asap_native/sqlite/database.hpp"
#include "asap_native/sqlite_snapshot_store.hpp"
#include "asap_native/timestamp.hpp"
#include "store_contracts.hpp"

namespace asap_native::testing {
namespace {

using sqlite::ConnectionOptions;

INSTANTIATE_TEST_SUITE_P(
    Sqlite, MeteringStoreContract,
    ::testing::ValuesIn(sqlite_factories<MeteringStore, SqliteMeteringStore>()),
    factory_name<MeteringStore>);

constexpr InstantMicros kEarliest = std::numeric_limits<InstantMicros>::min();
constexpr InstantMicros kLatest = std::numeric_limits<InstantMicros>::max();

class SqliteMeteringStoreTest : public ::testing::Test {
protected:
    TempDir dir_;
    std::string path_ = dir_.file("metering.db");
};

// ---- event ids ----

TEST(NewEventId, IsEvtPrefixAndACrockfordUlid) {
    const auto before = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    const std::string id = new_event_id();
    const auto after = std::chrono::duration_cast<std::chrono::milliseconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count();
    ASSERT_EQ(id.size(), 30u);
    EXPECT_EQ(id.substr(0, 4), "evt_");
    const std::string alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    for (char c : id.substr(4)) EXPECT_NE(alphabet.find(c), std::string::npos) << id;
    // 26 characters carry 130 bits for a 128-bit value: the first is at most '7'.
    EXPECT_LE(id[4], '7');
    // The first 10 characters are the creation time in milliseconds.
    std::int64_t millis = 0;
    for (char c : id.substr(4, 10))
        millis = millis * 32 + static_cast<std::int64_t>(alphabet.find(c));
    EXPECT_GE(millis, before);
    EXPECT_LE(millis, after);
}

TEST(NewEventId, UniqueAcrossThreads) {
    constexpr int kThreads = 4;
    constexpr int kPerThread = 20000;
    std::vector<std::vector<std::string>> ids(kThreads);
    run_threads(kThreads, [&](int t) {
        for (int i = 0; i < kPerThread; ++i) ids[t].push_back(new_event_id());
    });
    std::set<std::string> unique;
    std::set<std::string> random_parts;
    for (const auto& list : ids)
        for (const auto& id : list) {
            unique.insert(id);
            random_parts.insert(id.substr(14));
        }
    EXPECT_EQ(unique.size(), static_cast<std::size_t>(kThreads * kPerThread));
    EXPECT_EQ(random_parts.size(), static_cast<std::size_t>(kThreads * kPerThread));
}

TEST(NewEventId, ForkedChildDoesNotRepeatTheParentsIds) {
    new_event_id();  // the random state exists before the fork
    const ChildResult child = run_in_child([](std::string& message) {
        message = new_event_id();
        return 0;
    });
    ASSERT_EQ(child.exit_code, 0);
    ASSERT_EQ(child.message.size(), 30u);
    const std::string parent = new_event_id();
    EXPECT_NE(child.message.substr(14), parent.substr(14));
}

TEST_F(SqliteMeteringStoreTest, RecordedRowsHaveUlidIds) {
    SqliteMeteringStore store(path_);
    for (int i = 0; i < 50; ++i) store.record(make_event("agent", "2024-05-01T08:00:00Z"));
    RawDb raw(path_);
    EXPECT_EQ(raw.integer("SELECT count(DISTINCT id) FROM usage_events"), 50);
    EXPECT_EQ(raw.integer("SELECT count(*) FROM usage_events WHERE id GLOB 'evt_[0-7]*' AND "
                          "length(id) = 30"),
              50);
}

// ---- files ----

// SQLite's LIMIT reads any negative limit as no limit (asap-protocol binds it as given).
TEST_F(SqliteMeteringStoreTest, ANegativeLimitIsNoLimit) {
    SqliteMeteringStore store(path_);
    for (int i = 0; i < 5; ++i)
        store.record(make_event("agent", "2024-05-01T08:0" + std::to_string(i) + ":00Z", i));
    const InstantMicros start = *parse_iso8601("2024-05-01T08:00:00Z");
    const InstantMicros end = *parse_iso8601("2024-05-01T09:00:00Z");
    EXPECT_EQ(store.query("agent", start, end, QueryPage{-1, 0}).size(), 5u);
    EXPECT_EQ(store.query("agent", start, end, QueryPage{-7, 2}).size(), 3u);
}

TEST_F(SqliteMeteringStoreTest, DataPersistsAcrossReopen) {
    {
        SqliteMeteringStore store(path_);
        store.record(make_event("agent", "2024-05-01T10:30:00+02:00", 5, 6, 7, 8));
        store.close();
    }
    SqliteMeteringStore store(path_);
    auto events = store.query("agent", kEarliest, kLatest, {});
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].timestamp, "2024-05-01T10:30:00+02:00");
    EXPECT_EQ(store.aggregate("agent", "day").total_tokens, 11);
}

TEST_F(SqliteMeteringStoreTest, NewFileIsOwnerOnlyAndHasBothIndexes) {
    const mode_t previous = ::umask(0);
    {
        SqliteMeteringStore store(path_);
        store.record(make_event("agent", "2024-05-01T08:00:00Z"));
        EXPECT_EQ(file_mode(path_), 0600);
        EXPECT_EQ(file_mode(path_ + "-wal"), 0600);
    }
    ::umask(previous);
    RawDb raw(path_);
    EXPECT_EQ(raw.text("SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master "
                       "WHERE type = 'index' AND tbl_name = 'usage_events' AND sql IS NOT NULL "
                       "ORDER BY name)"),
              "idx_usage_agent_timestamp,idx_usage_consumer_timestamp");
    EXPECT_EQ(raw.text("SELECT group_concat(name || ':' || pk, ',') FROM "
                       "pragma_table_info('usage_events')"),
              "id:1,task_id:0,agent_id:0,consumer_id:0,metrics:0,timestamp:0");
}

// Rows as asap-protocol's SQLiteMeteringStore writes them (model_dump_json metrics,
// isoformat timestamps) are read; ours are readable the same way.
TEST_F(SqliteMeteringStoreTest, ReadsAndWritesAsapProtocolFiles) {
    {
        RawDb raw(path_);
        raw.exec(test_data("asap_protocol_usage_events.sql"));
        raw.exec(R"sql(
INSERT INTO usage_events VALUES
    ('evt_01HZZZZZZZZZZZZZZZZZZZZZZZ', 't1', 'agent', 'c1',
     '{"tokens_in":10,"tokens_out":20,"duration_ms":30,"api_calls":1}',
     '2024-05-01T08:30:00+00:00'),
    ('evt_01HZZZZZZZZZZZZZZZZZZZZZZY', 't2', 'agent', 'c1',
     '{"tokens_in": 1, "tokens_out": 2, "duration_ms": 3}',
     '2024-05-01T10:45:00.500000+02:00');
)sql");
    }
    SqliteMeteringStore store(path_);
    auto events = store.query("agent", kEarliest, kLatest, {});
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].task_id, "t1");
    EXPECT_EQ(events[0].metrics.tokens_out, 20);
    EXPECT_EQ(events[1].task_id, "t2");
    EXPECT_EQ(events[1].metrics.api_calls, 0);  // missing counters read as 0
    store.record(make_event("agent", "2024-05-01T09:00:00+00:00", 100, 200, 300, 4, "t3"));
    UsageAggregate total = store.aggregate("agent", "day");
    EXPECT_EQ(total.total_tasks, 3);
    EXPECT_EQ(total.total_tokens, 30 + 3 + 300);
    EXPECT_EQ(total.total_duration, 30 + 3 + 300);
    EXPECT_EQ(total.total_api_calls, 1 + 0 + 4);

    RawDb raw(path_);
    EXPECT_EQ(raw.text("SELECT json_extract(metrics, '$.tokens_in') || ',' || "
                       "json_extract(metrics, '$.tokens_out') || ',' || "
                       "json_extract(metrics, '$.duration_ms') || ',' || "
                       "json_extract(metrics, '$.api_calls') || '|' || timestamp || '|' || "
                       "consumer_id FROM usage_events WHERE task_id = 't3'"),
              "100,200,300,4|2024-05-01T09:00:00+00:00|consumer_1");
}

TEST_F(SqliteMeteringStoreTest, UnreadableStoredRowsGiveErrorsNotCrashes) {
    SqliteMeteringStore store(path_);
    store.record(make_event("agent", "2024-05-01T08:00:00Z"));
    {
        RawDb raw(path_);
        // A timestamp that is not ISO-8601 never matches a window.
        raw.exec(
            "INSERT INTO usage_events VALUES ('evt_a', 't', 'agent', 'c', "
            "'{\"tokens_in\":1}', 'not a time')");
    }
    EXPECT_EQ(store.query("agent", kEarliest, kLatest, {}).size(), 1u);
    {
        RawDb raw(path_);
        raw.exec(
            "INSERT INTO usage_events VALUES ('evt_b', 't', 'bad', 'c', "
            "'{\"tokens_in\":\"many\"}', '2024-05-01T08:00:00Z')");
        raw.exec(
            "INSERT INTO usage_events VALUES ('evt_c', 't', 'worse', 'c', "
            "'[not json', '2024-05-01T08:00:00Z')");
    }
    EXPECT_THROW(store.query("bad", kEarliest, kLatest, {}), StoreError);
    EXPECT_THROW(store.query("worse", kEarliest, kLatest, {}), StoreError);
    EXPECT_THROW(store.aggregate("worse", "day"), StoreError);
    // The store keeps working.
    EXPECT_EQ(store.aggregate("agent", "day").total_tasks, 2);
    store.record(make_event("agent", "2024-05-01T08:05:00Z"));
    EXPECT_EQ(store.query("agent", kEarliest, kLatest, {}).size(), 2u);
}

// A snapshot store and a metering store on one file, used at once from several threads.
TEST_F(SqliteMeteringStoreTest, SharesAFileWithTheSnapshotStore) {
    SqliteSnapshotStore snapshots(path_);
    SqliteMeteringStore metering(path_);
    constexpr int kRounds = 40;
    std::atomic<int> failures{0};
    std::thread snapshot_writer([&] {
        try {
            for (int v = 1; v <= kRounds; ++v) {
                snapshots.save(make_snapshot("task", v));
                if (!snapshots.get("task", v)) ++failures;
            }
        } catch (const std::exception&) {
            ++failures;
        }
    });
    std::thread metering_writer([&] {
        try {
            for (int i = 0; i < kRounds; ++i) {
                metering.record(make_event("agent", "2024-05-01T08:00:00Z", i, 0, 0, 1));
                if (metering.aggregate("agent", "day").total_tasks != i + 1) ++failures;
            }
        } catch (const std::exception&) {
            ++failures;
        }
    });
    snapshot_writer.join();
    metering_writer.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(snapshots.list_versions("task").size(), static_cast<std::size_t>(kRounds));
    EXPECT_EQ(metering.query("agent", kEarliest, kLatest, {}).size(),
              static_cast<std::size_t>(kRounds));
    snapshots.close();
    metering.close();

    // Opened the other way round, both tables are still there.
    SqliteMeteringStore metering_again(path_);
    SqliteSnapshotStore snapshots_again(path_);
    EXPECT_EQ(snapshots_again.get("task", std::nullopt)->version, kRounds);
    EXPECT_EQ(metering_again.aggregate("agent", "day").total_tasks, kRounds);
}

TEST_F(SqliteMeteringStoreTest, TwoStoresOnOneFile) {
    SqliteMeteringStore a(path_);
    SqliteMeteringStore b(path_);
    std::atomic<int> failures{0};
    auto work = [&](SqliteMeteringStore& mine, SqliteMeteringStore& theirs, int who) {
        try {
            for (int i = 0; i < 40; ++i) {
                mine.record(make_event("agent_" + std::to_string(who), "2024-05-01T08:00:00Z"));
                if (theirs.aggregate("agent_" + std::to_string(who), "day").total_tasks != i + 1)
                    ++failures;
            }
        } catch (const std::exception&) {
            ++failures;
        }
    };
    std::thread ta(work, std::ref(a), std::ref(b), 0);
    std::thread tb(work, std::ref(b), std::ref(a), 1);
    ta.join();
    tb.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(a.query("agent_1", kEarliest, kLatest, {}).size(), 40u);
    EXPECT_EQ(b.query("agent_0", kEarliest, kLatest, {}).size(), 40u);
}

TEST_F(SqliteMeteringStoreTest, InMemoryDatabaseIsSharedByAllCallsOfOneStore) {
    SqliteMeteringStore store(":memory:");
    std::thread writer([&] { store.record(make_event("agent", "2024-05-01T08:00:00Z")); });
    writer.join();
    std::thread reader([&] {
        EXPECT_EQ(store.query("agent", kEarliest, kLatest, {}).size(), 1u);
        EXPECT_EQ(store.aggregate("agent", "day").total_tasks, 1);
    });
    reader.join();
    SqliteMeteringStore other(":memory:");
    EXPECT_EQ(other.aggregate("agent", "day").total_tasks, 0);
}

// ---- errors ----

TEST_F(SqliteMeteringStoreTest, ClosedStoreThrowsClosed) {
    SqliteMeteringStore store(path_);
    store.record(make_event("agent", "2024-05-01T08:00:00Z"));
    store.close();
    EXPECT_TRUE(store.is_closed());
    for (auto& call : std::vector<std::function<void()>>{
             [&] { store.record(make_event("agent", "2024-05-01T08:00:00Z")); },
             [&] { store.query("agent", kEarliest, kLatest, {}); },
             [&] { store.aggregate("agent", "day"); },
         }) {
        EXPECT_EQ(store_error_from(call).kind(), StoreErrorKind::Closed);
    }
    SqliteMeteringStore in_memory(":memory:");
    in_memory.close();
    EXPECT_EQ(store_error_from([&] { in_memory.aggregate("agent", "day"); }).kind(),
              StoreErrorKind::Closed);
}

TEST_F(SqliteMeteringStoreTest, BadPaths) {
    try {
        SqliteMeteringStore store(dir_.path());
        ADD_FAILURE() << "opened a directory";
    } catch (const PathError& e) {
        EXPECT_EQ(e.error_number(), EISDIR);
    }
    try {
        SqliteMeteringStore store(dir_.file("missing/metering.db"));
        ADD_FAILURE() << "opened a file in a missing folder";
    } catch (const PathError& e) {
        EXPECT_EQ(e.error_number(), ENOENT);
    }
    write_file(path_, std::string(4096, 'x'));
    const StoreError e = store_error_from([&] { SqliteMeteringStore store(path_); });
    EXPECT_EQ(e.kind(), StoreErrorKind::NotADatabase);
    EXPECT_EQ(e.sqlite_code() & 0xff, SQLITE_NOTADB);
}

TEST_F(SqliteMeteringStoreTest, LockedDatabaseGivesBusyAndQueriesStillWork) {
    ConnectionOptions options;
    options.busy_timeout = std::chrono::milliseconds(50);
    SqliteMeteringStore store(path_, options);
    store.record(make_event("agent", "2024-05-01T08:00:00Z"));
    RawDb other(path_);
    other.exec("BEGIN EXCLUSIVE");
    const StoreError e =
        store_error_from([&] { store.record(make_event("agent", "2024-05-01T08:01:00Z")); });
    EXPECT_EQ(e.kind(), StoreErrorKind::Busy);
    EXPECT_EQ(e.sqlite_code() & 0xff, SQLITE_BUSY);
    EXPECT_EQ(store.query("agent", kEarliest, kLatest, {}).size(), 1u);
    EXPECT_EQ(store.aggregate("agent", "day").total_tasks, 1);
    other.exec("ROLLBACK");
    store.record(make_event("agent", "2024-05-01T08:01:00Z"));
    EXPECT_EQ(store.aggregate("agent", "day").total_tasks, 2);
}

TEST_F(SqliteMeteringStoreTest, ForkedChildCanRecordAndParentSeesIt) {
    SqliteMeteringStore store(path_);
    store.record(make_event("agent", "2024-05-01T08:00:00Z"));
    ASSERT_EQ(store.aggregate("agent", "day").total_tasks, 1);
    const ChildResult result = run_in_child([&](std::string& message) {
        try {
            if (store.aggregate("agent", "day").total_tasks != 1) return 1;
            store.record(make_event("agent", "2024-05-01T08:01:00Z"));
            if (store.query("agent", kEarliest, kLatest, {}).size() != 2) return 2;
            return 0;
        } catch (const std::exception& e) {
            message = e.what();
            return 3;
        }
    });
    ASSERT_EQ(result.exit_code, 0) << result.message;
    EXPECT_EQ(store.aggregate("agent", "day").total_tasks, 2);
    store.record(make_event("agent", "2024-05-01T08:02:00Z"));
    EXPECT_EQ(store.query("agent", kEarliest, kLatest, {}).size(), 3u);
}

}  // namespace
}  // namespace asap_native::testing
