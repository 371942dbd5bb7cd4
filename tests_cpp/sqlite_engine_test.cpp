// SqliteEngine: opening a file or ":memory:" with the options given, apply_schema, calls run
// now and queued, close() and its hooks, and one engine shared by several stores.
#include "asap_native/sqlite_engine.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "asap_native/errors.hpp"
#include "asap_native/sqlite/statement.hpp"
#include "asap_native/sqlite_metering_store.hpp"
#include "asap_native/sqlite_snapshot_store.hpp"
#include "store_contracts.hpp"

namespace asap_native::testing {
namespace {

using sqlite::Connection;
using sqlite::ConnectionOptions;
using sqlite::Durability;
using sqlite::Statement;

/// The first column of the first row of `sql` on `c`, as an integer.
std::int64_t integer_on(Connection& c, const std::string& sql) {
    Statement::Use statement(c.statement(sql));
    if (!statement->step()) throw std::runtime_error("no row from " + sql);
    return statement->column_int64(0);
}

std::int64_t count_rows(SqliteEngine& engine, const std::string& table) {
    return engine.read(StoreOperation::Fetch, [&](Connection& c) {
        return integer_on(c, "SELECT count(*) FROM " + table);
    });
}

const OperationFigures& figures_of(const StoreFigures& figures, StoreOperation operation) {
    return figures.operations[static_cast<std::size_t>(operation)];
}

class SqliteEngineTest : public ::testing::Test {
protected:
    TempDir dir_;
    std::string path_ = dir_.file("engine.db");
};

TEST_F(SqliteEngineTest, OpensAFileInWalModeWithTheOptionsGiven) {
    ConnectionOptions options;
    options.durability = Durability::Full;
    options.busy_timeout = std::chrono::milliseconds(1234);
    const auto engine = open_sqlite_engine(path_, options);
    EXPECT_EQ(file_mode(path_), 0600);
    EXPECT_EQ(RawDb(path_).text("PRAGMA journal_mode"), "wal");
    const auto check = [](Connection& c) {
        EXPECT_EQ(integer_on(c, "PRAGMA synchronous"), 2);  // FULL
        EXPECT_EQ(c.busy_timeout(), std::chrono::milliseconds(1234));
    };
    engine->database().with_writer(check);
    engine->database().with_reader(check);
    EXPECT_EQ(engine->database().path(), path_);
    EXPECT_FALSE(engine->database().in_memory());
}

TEST_F(SqliteEngineTest, NormalDurabilityIsTheDefault) {
    const auto engine = open_sqlite_engine(path_);
    engine->database().with_writer(
        [](Connection& c) { EXPECT_EQ(integer_on(c, "PRAGMA synchronous"), 1); });
}

TEST_F(SqliteEngineTest, AnInMemoryEngineIsOneDatabaseForReadsAndWrites) {
    const auto engine = open_sqlite_engine(":memory:");
    EXPECT_TRUE(engine->database().in_memory());
    apply_schema(*engine, "CREATE TABLE t (x)");
    engine->write(StoreOperation::Execute,
                  [](Connection& c) { c.execute("INSERT INTO t VALUES (1), (2)"); });
    EXPECT_EQ(count_rows(*engine, "t"), 2);
}

TEST_F(SqliteEngineTest, PathsThatCannotBeUsedAreRefusedWhenOpening) {
    EXPECT_EQ(
        path_error_from([&] { open_sqlite_engine(dir_.file("missing/engine.db")); }).error_number(),
        ENOENT);
    EXPECT_EQ(path_error_from([&] { open_sqlite_engine(dir_.path()); }).error_number(), EISDIR);
    EXPECT_THROW(open_sqlite_engine(""), InvalidArgument);
}

TEST_F(SqliteEngineTest, ApplySchemaRunsOnTheWriterAndMayRunAgain) {
    const auto engine = open_sqlite_engine(path_);
    const std::string schema =
        "CREATE TABLE IF NOT EXISTS t (x); CREATE INDEX IF NOT EXISTS t_x ON t (x)";
    apply_schema(*engine, schema);
    apply_schema(*engine, schema);
    EXPECT_EQ(RawDb(path_).integer("SELECT count(*) FROM sqlite_master WHERE name IN ('t', "
                                   "'t_x')"),
              2);
    EXPECT_EQ(count_rows(*engine, "t"), 0);                                 // readers see it too
    EXPECT_THROW(apply_schema(*engine, "CREATE TABLE t (x)"), StoreError);  // exists already
    engine->close();
    EXPECT_EQ(store_error_from([&] { apply_schema(*engine, schema); }).kind(),
              StoreErrorKind::Closed);
}

TEST_F(SqliteEngineTest, CallsRunNowReturnTheirResultAndAreCounted) {
    const auto engine = open_sqlite_engine(path_);
    apply_schema(*engine, "CREATE TABLE t (x)");
    const int written = engine->write(StoreOperation::Execute, [](Connection& c) {
        c.execute("INSERT INTO t VALUES (1)");
        return 7;
    });
    EXPECT_EQ(written, 7);
    EXPECT_EQ(count_rows(*engine, "t"), 1);
    EXPECT_THROW(engine->write(StoreOperation::Execute,
                               [](Connection& c) { c.execute("INSERT INTO missing VALUES (1)"); }),
                 StoreError);
    const StoreFigures figures = engine->stats();
    EXPECT_EQ(figures_of(figures, StoreOperation::Execute).count, 2u);
    EXPECT_EQ(figures_of(figures, StoreOperation::Execute).errors, 1u);
    EXPECT_EQ(figures_of(figures, StoreOperation::Fetch).count, 1u);
}

TEST_F(SqliteEngineTest, QueuedCallsHandTheirOutcomeToDone) {
    const auto engine = open_sqlite_engine(path_);
    apply_schema(*engine, "CREATE TABLE t (x)");
    // A queued write of `sql` that returns 7.
    const auto write_queued = [&](std::string sql) {
        QueuedOutcome<int> outcome;
        engine->write_queued(
            StoreOperation::Execute, "k",
            [sql = std::move(sql)](Connection& c) {
                c.execute(sql);
                return 7;
            },
            outcome.done());
        return outcome;
    };
    const QueuedOutcome<int> written = write_queued("INSERT INTO t VALUES (1)");
    EXPECT_EQ(written.result(), 7);
    EXPECT_FALSE(written.error());
    // Handed over once committed: another connection sees it.
    EXPECT_EQ(RawDb(path_).integer("SELECT count(*) FROM t"), 1);

    QueuedOutcome<std::int64_t> read;
    engine->read_queued(
        StoreOperation::Fetch, "k",
        [](Connection& c) { return integer_on(c, "SELECT count(*) FROM t"); }, read.done());
    EXPECT_EQ(read.result(), 1);

    QueuedOutcome<Nothing> exclusive;
    engine->exclusive_queued(
        StoreOperation::Script, "k", [](Connection& c) { c.execute("VACUUM"); }, exclusive.done());
    EXPECT_FALSE(exclusive.error());  // VACUUM fails inside a transaction: it ran alone

    // A call that fails hands over its error and a value-initialized result.
    const QueuedOutcome<int> failed = write_queued("INSERT INTO missing VALUES (1)");
    EXPECT_TRUE(failed.error());
    EXPECT_EQ(failed.result(), 0);
}

TEST_F(SqliteEngineTest, AClosedEngineRefusesEveryCall) {
    const auto engine = open_sqlite_engine(path_);
    engine->close();
    EXPECT_TRUE(engine->is_closed());
    const auto nothing = [](Connection&) {};
    EXPECT_EQ(store_error_from([&] { engine->read(StoreOperation::Fetch, nothing); }).kind(),
              StoreErrorKind::Closed);
    EXPECT_EQ(store_error_from([&] { engine->write(StoreOperation::Execute, nothing); }).kind(),
              StoreErrorKind::Closed);
    std::atomic<int> called{0};
    const Done<Nothing> done = [&](Nothing, std::exception_ptr) { ++called; };
    EXPECT_EQ(store_error_from([&] {
                  engine->read_queued(StoreOperation::Fetch, "k", nothing, done);
              }).kind(),
              StoreErrorKind::Closed);
    EXPECT_EQ(store_error_from([&] {
                  engine->write_queued(StoreOperation::Execute, "k", nothing, done);
              }).kind(),
              StoreErrorKind::Closed);
    EXPECT_EQ(store_error_from([&] {
                  engine->exclusive_queued(StoreOperation::Script, "k", nothing, done);
              }).kind(),
              StoreErrorKind::Closed);
    EXPECT_EQ(called.load(), 0);
    EXPECT_NO_THROW(engine->close());  // closing again does nothing
}

TEST_F(SqliteEngineTest, CloseRunsTheHooksOnceInOrderBeforeWaitingForQueuedWork) {
    auto engine = open_sqlite_engine(path_);
    // Queued work that waits for its owner, as a session does: only a hook can end it.
    Gate owner_done;
    std::promise<void> started;
    QueuedOutcome<Nothing> held;
    engine->exclusive_queued(
        StoreOperation::Transaction, "k",
        [&](Connection&) {
            started.set_value();
            owner_done.wait();
        },
        held.done());
    ASSERT_EQ(started.get_future().wait_for(kPatience), std::future_status::ready);
    std::vector<std::string> ran;
    engine->on_close([&] {
        ran.push_back("first");
        owner_done.open();
    });
    engine->on_close([&] { ran.push_back("second"); });
    engine->close();
    EXPECT_TRUE(held.arrived());
    EXPECT_FALSE(held.error());
    EXPECT_EQ(ran, (std::vector<std::string>{"first", "second"}));
    engine->close();
    engine.reset();
    EXPECT_EQ(ran.size(), 2u);  // neither the second close nor the destructor ran them again
}

TEST_F(SqliteEngineTest, DestroyingAnEngineThatWasNotClosedRunsTheHooks) {
    auto engine = open_sqlite_engine(path_);
    int ran = 0;
    engine->on_close([&] { ++ran; });
    engine.reset();
    EXPECT_EQ(ran, 1);
}

TEST_F(SqliteEngineTest, HooksRunOnceTheEngineAcceptsNoMoreWork) {
    // A call queued by a hook, or by another thread while the hooks run, would run after
    // them: a session opened then would hold the writer with nobody left to end it.
    const auto engine = open_sqlite_engine(path_);
    StoreErrorKind refused = StoreErrorKind::Other;
    bool accepted = false;
    engine->on_close([&] {
        try {
            engine->exclusive_queued(
                StoreOperation::Transaction, "k", [](Connection&) {},
                [](Nothing, std::exception_ptr) {});
            accepted = true;
        } catch (const StoreError& e) {
            refused = e.kind();
        }
    });
    engine->close();
    EXPECT_FALSE(accepted);
    EXPECT_EQ(refused, StoreErrorKind::Closed);
}

TEST_F(SqliteEngineTest, StoresOnOneEngineShareItsConnectionsFiguresAndClose) {
    auto engine = open_sqlite_engine(path_);
    SqliteSnapshotStore snapshots(engine);
    SqliteMeteringStore metering(engine);
    EXPECT_EQ(snapshots.engine(), engine);
    EXPECT_EQ(&metering.database(), &snapshots.database());
    EXPECT_EQ(RawDb(path_).integer("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND "
                                   "name IN ('snapshots', 'usage_events')"),
              2);
    engine.reset();  // the stores keep it open
    snapshots.save(make_snapshot("task_1", 1));
    metering.record(make_event("agent_1", "2024-05-01T10:00:00+00:00"));
    EXPECT_TRUE(snapshots.get("task_1", std::nullopt).has_value());
    EXPECT_EQ(metering.query("agent_1", 0, utc(2100, 1, 1), {}).size(), 1u);
    // One set of figures: each store's calls show in the other's stats().
    const StoreFigures seen_by_metering = metering.stats();
    EXPECT_EQ(figures_of(seen_by_metering, StoreOperation::Save).count, 1u);
    EXPECT_EQ(figures_of(seen_by_metering, StoreOperation::Record).count, 1u);
    // Closing one closes the engine under both.
    snapshots.close();
    EXPECT_TRUE(metering.is_closed());
    EXPECT_EQ(store_error_from([&] {
                  metering.record(make_event("agent_1", "2024-05-01T10:00:00+00:00"));
              }).kind(),
              StoreErrorKind::Closed);
}

}  // namespace
}  // namespace asap_native::testing
