// The SnapshotStore contract, run against every implementation (see store_contracts.hpp).
#include <atomic>
#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "asap_native/errors.hpp"
#include "store_contracts.hpp"

namespace asap_native::testing {
namespace {

using Versions = std::vector<std::int64_t>;

void expect_same(const Snapshot& expected, const Snapshot& actual) {
    EXPECT_EQ(expected.task_id, actual.task_id);
    EXPECT_EQ(expected.id, actual.id);
    EXPECT_EQ(expected.version, actual.version);
    EXPECT_EQ(expected.data_json, actual.data_json);
    EXPECT_EQ(expected.checkpoint, actual.checkpoint);
    EXPECT_EQ(expected.created_at, actual.created_at);
}

TEST_P(SnapshotStoreContract, SaveThenGetReturnsEveryField) {
    Snapshot s = make_snapshot("task_a", 3, R"({"z":1,"a":{"y":[1,2,{"b":null}],"x":"é ✓"}})");
    s.checkpoint = true;
    s.created_at = "2024-05-01T10:30:00.123456+02:00";
    store().save(s);
    auto got = store().get("task_a", 3);
    ASSERT_TRUE(got.has_value());
    expect_same(s, *got);
    // Key order survives: the text comes back byte for byte.
    auto data = snapshot_data_to_json(got->data_json);
    EXPECT_EQ(data.begin().key(), "z");
}

TEST_P(SnapshotStoreContract, CheckpointFalseRoundTrips) {
    Snapshot s = make_snapshot("task_a", 1);
    s.checkpoint = false;
    store().save(s);
    EXPECT_FALSE(store().get("task_a", 1)->checkpoint);
}

TEST_P(SnapshotStoreContract, GetWithoutVersionReturnsHighestVersion) {
    for (std::int64_t v : {2, 9, 4}) store().save(make_snapshot("task_a", v));
    auto latest = store().get("task_a", std::nullopt);
    ASSERT_TRUE(latest.has_value());
    EXPECT_EQ(latest->version, 9);
    expect_same(make_snapshot("task_a", 9), *latest);
    EXPECT_EQ(store().get("task_a", 4)->version, 4);
}

TEST_P(SnapshotStoreContract, MissingTaskOrVersionIsNullopt) {
    EXPECT_FALSE(store().get("nobody", std::nullopt).has_value());
    EXPECT_FALSE(store().get("nobody", 1).has_value());
    store().save(make_snapshot("task_a", 1));
    EXPECT_FALSE(store().get("task_a", 2).has_value());
    EXPECT_TRUE(store().list_versions("nobody").empty());
}

TEST_P(SnapshotStoreContract, ListVersionsIsAscendingAndNumeric) {
    for (std::int64_t v : {3, 1, 10, 2, 100, 20}) store().save(make_snapshot("task_a", v));
    EXPECT_EQ(store().list_versions("task_a"), (Versions{1, 2, 3, 10, 20, 100}));
}

TEST_P(SnapshotStoreContract, TasksAreIndependent) {
    store().save(make_snapshot("task_a", 1));
    store().save(make_snapshot("task_a", 2));
    store().save(make_snapshot("task_b", 5));
    // A task id that is a prefix of another must not match it.
    store().save(make_snapshot("task", 7));
    EXPECT_EQ(store().list_versions("task_a"), (Versions{1, 2}));
    EXPECT_EQ(store().list_versions("task_b"), (Versions{5}));
    EXPECT_EQ(store().list_versions("task"), (Versions{7}));
    EXPECT_EQ(store().get("task_b", std::nullopt)->version, 5);
    EXPECT_TRUE(store().remove("task_a", std::nullopt));
    EXPECT_EQ(store().list_versions("task_b"), (Versions{5}));
    EXPECT_EQ(store().list_versions("task"), (Versions{7}));
}

TEST_P(SnapshotStoreContract, SaveReplacesSameTaskAndVersion) {
    store().save(make_snapshot("task_a", 1));
    Snapshot replacement = make_snapshot("task_a", 1, R"({"replaced":true})");
    replacement.id = "snap_other";
    replacement.checkpoint = true;
    replacement.created_at = "2025-01-01T00:00:00+00:00";
    store().save(replacement);
    EXPECT_EQ(store().list_versions("task_a"), (Versions{1}));
    expect_same(replacement, *store().get("task_a", 1));
    expect_same(replacement, *store().get("task_a", std::nullopt));
}

TEST_P(SnapshotStoreContract, RemoveOneVersion) {
    for (std::int64_t v : {1, 2, 3}) store().save(make_snapshot("task_a", v));
    EXPECT_TRUE(store().remove("task_a", 2));
    EXPECT_EQ(store().list_versions("task_a"), (Versions{1, 3}));
    EXPECT_FALSE(store().get("task_a", 2).has_value());
    EXPECT_FALSE(store().remove("task_a", 2));
    // Removing the latest makes the next one down the latest.
    EXPECT_TRUE(store().remove("task_a", 3));
    EXPECT_EQ(store().get("task_a", std::nullopt)->version, 1);
}

TEST_P(SnapshotStoreContract, RemoveAllVersions) {
    for (std::int64_t v : {1, 2, 3}) store().save(make_snapshot("task_a", v));
    EXPECT_TRUE(store().remove("task_a", std::nullopt));
    EXPECT_TRUE(store().list_versions("task_a").empty());
    EXPECT_FALSE(store().get("task_a", std::nullopt).has_value());
    EXPECT_FALSE(store().remove("task_a", std::nullopt));
    // The task can be written again afterwards.
    store().save(make_snapshot("task_a", 4));
    EXPECT_EQ(store().list_versions("task_a"), (Versions{4}));
}

TEST_P(SnapshotStoreContract, RemovingNothingReturnsFalse) {
    EXPECT_FALSE(store().remove("nobody", std::nullopt));
    EXPECT_FALSE(store().remove("nobody", 1));
    store().save(make_snapshot("task_a", 1));
    EXPECT_FALSE(store().remove("task_a", 5));
    EXPECT_EQ(store().list_versions("task_a"), (Versions{1}));
}

TEST_P(SnapshotStoreContract, RemovingTheOnlyVersionEmptiesTheTask) {
    store().save(make_snapshot("task_a", 1));
    EXPECT_TRUE(store().remove("task_a", 1));
    EXPECT_TRUE(store().list_versions("task_a").empty());
    EXPECT_FALSE(store().remove("task_a", std::nullopt));
}

TEST_P(SnapshotStoreContract, ExtremeVersionsAndOddIds) {
    const std::int64_t top = std::numeric_limits<std::int64_t>::max();
    const std::string odd = "t'; DROP TABLE snapshots; --\"é\xF0\x9F\x98\x80";
    store().save(make_snapshot(odd, top));
    store().save(make_snapshot(odd, 1));
    EXPECT_EQ(store().list_versions(odd), (Versions{1, top}));
    expect_same(make_snapshot(odd, top), *store().get(odd, std::nullopt));
    EXPECT_TRUE(store().remove(odd, top));
    EXPECT_EQ(store().list_versions(odd), (Versions{1}));
}

TEST_P(SnapshotStoreContract, LargeDataRoundTrips) {
    nlohmann::ordered_json data;
    for (int i = 0; i < 2000; ++i)
        data["key_" + std::to_string(1999 - i)] = std::string(500, static_cast<char>('a' + i % 26));
    const std::string text = snapshot_data_from_json(data);
    ASSERT_GT(text.size(), 1000000u);
    store().save(make_snapshot("big", 1, text));
    EXPECT_EQ(store().get("big", 1)->data_json, text);
}

// Keys are stored and looked up as given, as asap-protocol does: an empty id or a version
// below 1 is just a key; a version no snapshot has finds nothing.
TEST_P(SnapshotStoreContract, AnyKeyIsAKeyAndAMissingOneFindsNothing) {
    store().save(make_snapshot("task_a", 1));
    EXPECT_FALSE(store().get("", std::nullopt));
    EXPECT_FALSE(store().get("task_a", 0));
    EXPECT_FALSE(store().get("task_a", -1));
    EXPECT_TRUE(store().list_versions("").empty());
    EXPECT_FALSE(store().remove("", std::nullopt));
    EXPECT_FALSE(store().remove("task_a", 0));
    EXPECT_FALSE(store().remove("task_a", std::numeric_limits<std::int64_t>::min()));

    Snapshot odd = make_snapshot("", 0);
    odd.id = "";
    store().save(odd);
    store().save(make_snapshot("", -3));
    EXPECT_EQ(store().list_versions(""), (Versions{-3, 0}));
    EXPECT_EQ(store().get("", std::nullopt)->version, 0);
    EXPECT_EQ(store().get("", -3)->version, -3);
    EXPECT_TRUE(store().remove("", -3));
    EXPECT_EQ(store().list_versions(""), (Versions{0}));
    EXPECT_EQ(store().list_versions("task_a"), (Versions{1}));

    Snapshot bad = make_snapshot("task_a", 2);
    bad.created_at = "";
    EXPECT_THROW(store().save(bad), InvalidArgument);
    EXPECT_EQ(store().list_versions("task_a"), (Versions{1}));
}

// Writers append ascending versions to their own tasks while readers poll the latest
// version of every task; every value a reader sees must be one that was written, and a
// task's latest version never goes backwards.
TEST_P(SnapshotStoreContract, ConcurrentWritersAndReaders) {
    constexpr int kWriters = 4;
    constexpr int kReaders = 4;
    constexpr int kVersions = 60;
    auto write = [&](int w, std::atomic<int>& failures) {
        const std::string task = "task_" + std::to_string(w);
        for (int v = 1; v <= kVersions; ++v) {
            store().save(make_snapshot(task, v));
            // A writer always sees its own write at once.
            auto mine = store().get(task, v);
            if (!mine || mine->data_json != make_snapshot(task, v).data_json) ++failures;
        }
        // Every other version is removed again; each removal must report success.
        for (int v = 2; v <= kVersions; v += 2)
            if (!store().remove(task, v)) ++failures;
    };
    auto read = [&](int r, const std::function<bool()>& writing, std::atomic<int>& failures) {
        std::vector<std::int64_t> last_seen(kWriters, 0);
        while (writing()) {
            for (int w = 0; w < kWriters; ++w) {
                const std::string task = "task_" + std::to_string(w);
                auto latest = store().get(task, std::nullopt);
                if (!latest) {
                    if (last_seen[w] != 0) ++failures;  // it existed before
                    continue;
                }
                Snapshot expected = make_snapshot(task, latest->version);
                if (latest->data_json != expected.data_json || latest->id != expected.id ||
                    latest->checkpoint != expected.checkpoint)
                    ++failures;
                // Removals of even versions can lower the latest by one at the end.
                if (latest->version + 1 < last_seen[w]) ++failures;
                last_seen[w] = latest->version;
                auto versions = store().list_versions(task);
                for (std::size_t i = 1; i < versions.size(); ++i)
                    if (versions[i - 1] >= versions[i]) ++failures;
            }
            if (r % 2 == 1) std::this_thread::yield();
        }
    };
    EXPECT_EQ(run_writers_and_readers(kWriters, kReaders, write, read), 0);

    Versions odd;
    for (int v = 1; v <= kVersions; v += 2) odd.push_back(v);
    for (int w = 0; w < kWriters; ++w) {
        const std::string task = "task_" + std::to_string(w);
        EXPECT_EQ(store().list_versions(task), odd);
        for (std::int64_t v : odd) expect_same(make_snapshot(task, v), *store().get(task, v));
    }
}

// Many threads replacing the same key: whatever wins, the row is one complete write.
TEST_P(SnapshotStoreContract, ConcurrentReplacesOfOneKeyLeaveOneWholeValue) {
    constexpr int kThreads = 4;
    constexpr int kRounds = 50;
    std::atomic<int> failures{0};
    run_threads(kThreads, [&](int t) {
        try {
            for (int i = 0; i < kRounds; ++i) {
                Snapshot s = make_snapshot(
                    "shared", 1,
                    "{\"writer\":" + std::to_string(t) + ",\"round\":" + std::to_string(i) + "}");
                s.id = "w" + std::to_string(t) + "_" + std::to_string(i);
                store().save(s);
                auto got = store().get("shared", std::nullopt);
                if (!got) {
                    ++failures;
                    continue;
                }
                // id and data always come from the same save.
                auto data = snapshot_data_to_json(got->data_json);
                const std::string expected_id = "w" + std::to_string(data["writer"].get<int>()) +
                                                "_" + std::to_string(data["round"].get<int>());
                if (got->id != expected_id) ++failures;
            }
        } catch (const std::exception&) {
            ++failures;
        }
    });
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(store().list_versions("shared"), (Versions{1}));
}

}  // namespace
}  // namespace asap_native::testing
