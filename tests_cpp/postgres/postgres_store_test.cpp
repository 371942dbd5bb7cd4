// PostgresSnapshotStore / PostgresMeteringStore beyond the shared contract: the queued
// (awaitable) path and its group commits, what PostgreSQL text and jsonb cannot hold, opening
// errors; plus the pure helpers (jsonb_can_hold, SQLSTATE kinds, DSN description).
#ifdef ASAP_NATIVE_HAS_POSTGRES

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "../test_support.hpp"
#include "asap_native/errors.hpp"
#include "asap_native/postgres/dsn.hpp"
#include "asap_native/postgres/errors.hpp"
#include "asap_native/postgres/params.hpp"
#include "asap_native/postgres_metering_store.hpp"
#include "asap_native/postgres_snapshot_store.hpp"
#include "postgres_test_support.hpp"

namespace asap_native::testing {
namespace {

// Collects queued outcomes and waits for them.
class Outcomes {
public:
    template <typename Result>
    Done<Result> done(Result* out = nullptr) {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            ++expected_;
        }
        return [this, out](Result result, std::exception_ptr error) {
            std::lock_guard<std::mutex> lock(mutex_);
            if (out != nullptr) *out = std::move(result);
            errors_.push_back(error);
            changed_.notify_all();
        };
    }
    std::vector<std::exception_ptr> wait() {
        std::unique_lock<std::mutex> lock(mutex_);
        EXPECT_TRUE(changed_.wait_for(lock, std::chrono::seconds(30),
                                      [&] { return errors_.size() == expected_; }));
        return errors_;
    }

private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::size_t expected_ = 0;
    std::vector<std::exception_ptr> errors_;
};

class PgStore : public ::testing::Test {
protected:
    void SetUp() override {
        if (skip_without_postgres()) return;
        schema_ = std::make_unique<TestSchema>();
    }
    std::unique_ptr<TestSchema> schema_;
};

TEST_F(PgStore, QueuedWritesAreGroupCommittedAndAFailingOneFailsAlone) {
    PostgresSnapshotStore store(schema_->options());
    Outcomes outcomes;
    for (int i = 0; i < 300; ++i) {
        Snapshot s = make_snapshot("t" + std::to_string(i % 10), i + 1);
        if (i == 150) s.task_id = std::string("bad\xff", 4);  // not UTF-8: the server refuses it
        store.save_queued(std::move(s), outcomes.done<Nothing>());
    }
    const auto errors = outcomes.wait();
    int failed = 0;
    for (const auto& error : errors) {
        if (!error) continue;
        ++failed;
        try {
            std::rethrow_exception(error);
        } catch (const StoreError& e) {
            EXPECT_EQ(e.sqlstate(), "22021");
        }
    }
    EXPECT_EQ(failed, 1);
    EXPECT_EQ(schema_->raw().integer("SELECT count(*) FROM snapshots"), 299);
    const StoreFigures figures = store.stats();
    EXPECT_EQ(figures.batched_writes, 300u);
    EXPECT_LT(figures.batches, 300u);
}

TEST_F(PgStore, QueuedReadsFollowQueuedWritesOfTheirTask) {
    PostgresSnapshotStore store(schema_->options());
    Outcomes outcomes;
    bool removed = false;
    std::optional<Snapshot> got;
    std::vector<std::int64_t> versions;
    for (int v = 1; v <= 5; ++v) store.save_queued(make_snapshot("t", v), outcomes.done<Nothing>());
    store.remove_queued("t", 3, outcomes.done<bool>(&removed));
    store.get_queued("t", std::nullopt, outcomes.done<std::optional<Snapshot>>(&got));
    store.list_versions_queued("t", outcomes.done<std::vector<std::int64_t>>(&versions));
    for (const auto& error : outcomes.wait()) EXPECT_FALSE(error);
    EXPECT_TRUE(removed);
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(got->version, 5);
    EXPECT_EQ(versions, (std::vector<std::int64_t>{1, 2, 4, 5}));
    bool removed_again = true;
    Outcomes more;
    store.remove_queued("t", 3, more.done<bool>(&removed_again));
    for (const auto& error : more.wait()) EXPECT_FALSE(error);
    EXPECT_FALSE(removed_again);
}

TEST_F(PgStore, TextAndJsonbLimits) {
    PostgresSnapshotStore store(schema_->options());
    Snapshot nul = make_snapshot("a", 1);
    nul.task_id = std::string("a\0b", 3);
    EXPECT_THROW(store.save(nul), InvalidArgument);
    EXPECT_THROW(store.get(std::string("a\0b", 3), std::nullopt), InvalidArgument);
    Snapshot bad_time = make_snapshot("a", 1);
    bad_time.created_at = "yesterday";
    EXPECT_THROW(store.save(bad_time), InvalidArgument);
    // Text jsonb refuses is kept as text, data NULL; read back byte for byte.
    for (const std::string& text :
         {std::string(R"({"s":"a\u0000b"})"), std::string(R"({"x": NaN})"),
          std::string(R"({"k":1,"k":2})"), std::string("not json")}) {
        store.save(make_snapshot("j", 1, text));
        EXPECT_EQ(store.get("j", 1)->data_json, text);
    }
    EXPECT_EQ(schema_->raw().text("SELECT data IS NULL FROM snapshots WHERE task_id = 'j'"), "t");
    store.save(make_snapshot("j", 1, R"({"k":1,"k":2,"a":[1.50]})"));
    EXPECT_EQ(schema_->raw().text("SELECT data::text FROM snapshots WHERE task_id = 'j'"),
              R"({"a": [1.50], "k": 2})");
}

TEST_F(PgStore, MeteringTotalsBeyond64Bits) {
    PostgresMeteringStore store(schema_->options());
    const UsageCount big = static_cast<UsageCount>(1) << 100;
    store.record(make_event("a", "2024-05-01T08:00:00Z", big, big, 1, 2));
    store.record(make_event("a", "2024-05-01T09:00:00+01:00", big, 1, 1, 2));
    const UsageAggregate total = store.aggregate("a", "day");
    EXPECT_TRUE(total.total_tokens == 3 * big + 1);
    EXPECT_EQ(total.total_tasks, 2);
    EXPECT_TRUE(total.total_api_calls == 4);
    // Both events are at 08:00Z: ties come back in insertion order.
    const auto events = store.query("a", 0, std::numeric_limits<std::int64_t>::max(), {});
    ASSERT_EQ(events.size(), 2u);
    EXPECT_EQ(events[0].timestamp, "2024-05-01T08:00:00Z");
    EXPECT_EQ(events[1].timestamp, "2024-05-01T09:00:00+01:00");
    EXPECT_TRUE(events[0].metrics.tokens_in == big);
}

TEST_F(PgStore, OpeningErrorsAreClear) {
    try {
        PostgresSnapshotStore store(
            pg::ConnectOptions{"host=/tmp password=hunter2 oops", std::chrono::seconds(5)});
        FAIL() << "opened";
    } catch (const InvalidArgument& e) {
        EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
    }
    const auto start = std::chrono::steady_clock::now();
    try {
        PostgresSnapshotStore store(
            pg::ConnectOptions{"host=/nonexistent port=1", std::chrono::milliseconds(500)});
        FAIL() << "opened";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.kind(), StoreErrorKind::Connection) << e.what();
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
    try {
        PostgresMeteringStore store(pg::ConnectOptions{
            postgres_test_dsn() + " dbname=no_such_database", std::chrono::seconds(5)});
        FAIL() << "opened";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.kind(), StoreErrorKind::CantOpen) << e.what();
    }
}

TEST(PgHelpers, JsonbCanHold) {
    for (const char* ok : {"{}", "[]", "0", "-0.5e-7", R"({"a":[1,2,{"b":null}],"c":"\u00e9"})",
                           R"("\ud83d\ude00")", " { \"a\" : true } ", R"("é ✓")"})
        EXPECT_TRUE(jsonb_can_hold(ok)) << ok;
    for (const char* bad :
         {"", "{", "NaN", "[1,]", "01", "1.", "\"a\\u0000\"", R"("\ud83d")", R"("\ude00")",
          "\"tab\there\"", "{\"a\" 1}", "[1] 2", "1e1001", "\"\\x\""})
        EXPECT_FALSE(jsonb_can_hold(bad)) << bad;
    EXPECT_TRUE(jsonb_can_hold(R"("\\u0000")"));  // an escaped backslash, then text
    const auto nested = [](int depth) { return std::string(depth, '[') + std::string(depth, ']'); };
    EXPECT_TRUE(jsonb_can_hold(nested(1000)));
    EXPECT_FALSE(jsonb_can_hold(nested(1001)));
}

TEST(PgHelpers, SqlstateKinds) {
    EXPECT_EQ(pg::kind_for_sqlstate("08006"), StoreErrorKind::Connection);
    EXPECT_EQ(pg::kind_for_sqlstate("57P01"), StoreErrorKind::Connection);
    EXPECT_EQ(pg::kind_for_sqlstate("28P01"), StoreErrorKind::Authentication);
    EXPECT_EQ(pg::kind_for_sqlstate("57014"), StoreErrorKind::Timeout);
    EXPECT_EQ(pg::kind_for_sqlstate("40P01"), StoreErrorKind::Busy);
    EXPECT_EQ(pg::kind_for_sqlstate("25006"), StoreErrorKind::ReadOnly);
    EXPECT_EQ(pg::kind_for_sqlstate("53100"), StoreErrorKind::IO);
    EXPECT_EQ(pg::kind_for_sqlstate("XX001"), StoreErrorKind::NotADatabase);
    EXPECT_EQ(pg::kind_for_sqlstate("23505"), StoreErrorKind::Other);
    EXPECT_EQ(pg::kind_for_sqlstate(""), StoreErrorKind::Other);
    EXPECT_EQ(pg::connect_error("FATAL:  password authentication failed for user \"x\"").kind(),
              StoreErrorKind::Authentication);
    EXPECT_EQ(pg::connect_error("Connection refused\n\tIs the server running?").kind(),
              StoreErrorKind::Connection);
    EXPECT_EQ(pg::one_line("a\n\tb\n"), "a b");
}

TEST(PgHelpers, DsnDescriptionsShowNoSecret) {
    EXPECT_EQ(pg::describe_dsn("postgresql://alice:s3cret@db.example:6432/asap?sslmode=require"),
              "host=db.example port=6432 dbname=asap user=alice");
    EXPECT_EQ(pg::describe_dsn("host=h password=s3cret user=u"), "host=h user=u");
    EXPECT_EQ(pg::describe_dsn("a b c"), "(invalid dsn)");
    EXPECT_NO_THROW(pg::validate_dsn(""));
    EXPECT_THROW(pg::validate_dsn(std::string("host=a\0b", 8)), InvalidArgument);
}

TEST(PgHelpers, TimestampsClampToPostgresRange) {
    EXPECT_EQ(pg::postgres_timestamp(946684800LL * 1000000), 0);
    // The largest instant is still inside PostgreSQL's range (year 294246); below it, -infinity.
    EXPECT_EQ(pg::postgres_timestamp(std::numeric_limits<std::int64_t>::max()),
              std::numeric_limits<std::int64_t>::max() - 946684800LL * 1000000);
    EXPECT_EQ(pg::postgres_timestamp(std::numeric_limits<std::int64_t>::min()),
              std::numeric_limits<std::int64_t>::min());
}

}  // namespace
}  // namespace asap_native::testing

#endif  // ASAP_NATIVE_HAS_POSTGRES
