// StoreStats: histogram percentiles, counting by operation and error kind, busy waits and
// group-commit batch sizes as the SQLite stores report them.
#include "asap_native/store_stats.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>
#include <vector>

#include "asap_native/errors.hpp"
#include "asap_native/executor.hpp"
#include "asap_native/memory_snapshot_store.hpp"
#include "asap_native/sqlite_snapshot_store.hpp"
#include "test_support.hpp"

namespace asap_native {
namespace {

using namespace std::chrono_literals;
using testing::make_snapshot;
using testing::RawDb;
using testing::TempDir;

const OperationFigures& figures(const StoreFigures& stats, StoreOperation operation) {
    return stats.operations[static_cast<std::size_t>(operation)];
}

TEST(HistogramTest, EmptyHistogramReportsZero) {
    Histogram histogram;
    EXPECT_EQ(histogram.count(), 0u);
    EXPECT_EQ(histogram.percentile(0.5), 0u);
    EXPECT_EQ(histogram.max(), 0u);
}

TEST(HistogramTest, SmallValuesAreExact) {
    Histogram histogram;
    for (std::uint64_t v : {0, 1, 2, 3, 4, 5, 6, 7}) histogram.add(v);
    EXPECT_EQ(histogram.percentile(0.0), 0u);
    EXPECT_EQ(histogram.percentile(1.0), 7u);
    EXPECT_EQ(histogram.max(), 7u);
}

TEST(HistogramTest, PercentilesAreWithinTheBucketError) {
    Histogram histogram;
    for (std::uint64_t v = 1; v <= 10000; ++v) histogram.add(v * 1000);
    const double p50 = static_cast<double>(histogram.percentile(0.5));
    const double p99 = static_cast<double>(histogram.percentile(0.99));
    EXPECT_GE(p50, 5000000.0);
    EXPECT_LE(p50, 5000000.0 * 1.25);
    EXPECT_GE(p99, 9900000.0);
    EXPECT_LE(p99, 10000000.0);  // never above the largest value seen
    EXPECT_EQ(histogram.max(), 10000000u);
    EXPECT_EQ(histogram.count(), 10000u);
}

TEST(HistogramTest, HugeValuesDoNotOverflowTheBuckets) {
    Histogram histogram;
    histogram.add(UINT64_MAX);
    histogram.add(1ull << 62);
    EXPECT_EQ(histogram.max(), UINT64_MAX);
    EXPECT_EQ(histogram.percentile(1.0), UINT64_MAX);
}

TEST(StoreStatsTest, CountsOperationsAndErrorsByKind) {
    MemorySnapshotStore store;
    store.save(make_snapshot("task", 1));
    store.save(make_snapshot("task", 2));
    EXPECT_TRUE(store.get("task", std::nullopt).has_value());
    EXPECT_FALSE(store.get("", std::nullopt).has_value());
    Snapshot bad = make_snapshot("task", 3);
    bad.created_at = "not a time";
    EXPECT_THROW(store.save(bad), InvalidArgument);
    store.close();
    EXPECT_THROW(store.remove("task", std::int64_t{1}), StoreError);
    const StoreFigures stats = store.stats();
    EXPECT_EQ(figures(stats, StoreOperation::Save).count, 3u);
    EXPECT_EQ(figures(stats, StoreOperation::Save).errors, 1u);
    EXPECT_EQ(figures(stats, StoreOperation::Get).count, 2u);
    EXPECT_EQ(figures(stats, StoreOperation::Get).errors, 0u);
    EXPECT_EQ(figures(stats, StoreOperation::Delete).errors, 1u);
    EXPECT_EQ(stats.errors_by_kind.at("invalid_argument"), 1u);
    EXPECT_EQ(stats.errors_by_kind.at("closed"), 1u);
    EXPECT_EQ(stats.errors_by_kind.at("busy"), 0u);
    EXPECT_GE(figures(stats, StoreOperation::Save).latency_max_ns,
              figures(stats, StoreOperation::Save).latency_p50_ns);
}

TEST(StoreStatsTest, SqliteStoreCountsBusyWaitsAndBusyErrors) {
    TempDir dir;
    const std::string path = dir.file("busy.db");
    sqlite::ConnectionOptions options;
    options.busy_timeout = 50ms;
    SqliteSnapshotStore store(path, options);
    RawDb holder(path);
    holder.exec("BEGIN EXCLUSIVE");
    EXPECT_THROW(store.save(make_snapshot("task", 1)), StoreError);
    holder.exec("COMMIT");
    store.save(make_snapshot("task", 1));
    const StoreFigures stats = store.stats();
    EXPECT_EQ(stats.busy_waits, 1u);
    EXPECT_EQ(stats.errors_by_kind.at("busy"), 1u);
    EXPECT_EQ(figures(stats, StoreOperation::Save).count, 2u);
    EXPECT_EQ(figures(stats, StoreOperation::Save).errors, 1u);
    // The failed call waited for the timeout before it gave up.
    EXPECT_GE(figures(stats, StoreOperation::Save).latency_max_ns, 40'000'000u);
}

TEST(StoreStatsTest, QueuedCallsAreCountedOnCompletionWithTheirBatches) {
    TempDir dir;
    SqliteSnapshotStore store(dir.file("queued.db"));
    constexpr int kWrites = 200;
    std::atomic<int> done{0};
    for (int i = 1; i <= kWrites; ++i)
        store.save_queued(make_snapshot("task", i), [&](Nothing, std::exception_ptr error) {
            if (!error) ++done;
        });
    // An invalid call fails through its callback, like any other failure of a queued call.
    std::exception_ptr invalid;
    Snapshot bad = make_snapshot("task", kWrites + 1);
    bad.created_at = "not a time";
    store.save_queued(bad, [&](Nothing, std::exception_ptr error) { invalid = error; });
    store.close();  // waits for the queue
    EXPECT_EQ(done.load(), kWrites);
    ASSERT_TRUE(invalid);
    EXPECT_THROW(std::rethrow_exception(invalid), InvalidArgument);
    const StoreFigures stats = store.stats();
    EXPECT_EQ(figures(stats, StoreOperation::Save).count, kWrites + 1u);
    EXPECT_EQ(figures(stats, StoreOperation::Save).errors, 1u);
    EXPECT_EQ(stats.errors_by_kind.at("invalid_argument"), 1u);
    EXPECT_EQ(stats.batched_writes, static_cast<std::uint64_t>(kWrites + 1));
    EXPECT_GE(stats.batches, 1u);
    EXPECT_LE(stats.batches, static_cast<std::uint64_t>(kWrites));
    EXPECT_GE(stats.batch_size_max, stats.batch_size_p50);
}

}  // namespace
}  // namespace asap_native
