// pg::Database: group commit (one pipelined transaction, failures isolated), the pool,
// reconnection, bounded waits, fork().
#ifdef ASAP_NATIVE_HAS_POSTGRES

#include "asap_native/postgres/database.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "../test_support.hpp"
#include "asap_native/errors.hpp"
#include "postgres_test_support.hpp"

namespace asap_native::testing {
namespace {

using pg::Connection;
using pg::Database;
using pg::Params;
using Steps = std::vector<BatchStep<Connection>>;

enum Statement { kInsert, kCount };

class PgDatabase : public ::testing::Test {
protected:
    void SetUp() override {
        if (skip_without_postgres()) return;
        schema_ = std::make_unique<TestSchema>();
        database_ = open(std::chrono::seconds(10));
    }

    std::unique_ptr<Database> open(std::chrono::milliseconds timeout, int connections = 0) {
        return std::make_unique<Database>(
            schema_->options(timeout),
            pg::Schema{"items", {"CREATE TABLE items (k bigint PRIMARY KEY, v text NOT NULL)"}},
            pg::Statements{
                {"INSERT INTO items (k, v) VALUES ($1, $2)", {pg::oid::kInt8, pg::oid::kText}},
                {"SELECT count(*) FROM items", {}}},
            connections);
    }

    static BatchStep<Connection> insert(std::int64_t key, std::string value = "v") {
        return [key, value](Connection& c) {
            Params params;
            params.int64(key).text(value);
            c.send(kInsert, params);
        };
    }

    std::vector<std::exception_ptr> run(const Steps& steps) {
        std::vector<const BatchStep<Connection>*> pointers;
        for (const auto& step : steps) pointers.push_back(&step);
        return database_->run_batch(pointers);
    }

    std::int64_t rows() { return schema_->raw().integer("SELECT count(*) FROM items"); }
    // Rows written by distinct transactions.
    std::int64_t transactions() {
        return schema_->raw().integer("SELECT count(DISTINCT xmin::text) FROM items");
    }
    bool has(std::int64_t key) {
        return schema_->raw().integer("SELECT count(*) FROM items WHERE k = " +
                                      std::to_string(key)) == 1;
    }

    std::unique_ptr<TestSchema> schema_;
    std::unique_ptr<Database> database_;
};

StoreError store_error(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const StoreError& e) {
        return e;
    } catch (...) {
    }
    ADD_FAILURE() << "not a StoreError";
    return StoreError(StoreErrorKind::Other, "none", "");
}

TEST_F(PgDatabase, BatchCommitsEveryStepInOneTransaction) {
    Steps steps;
    for (int k = 0; k < 200; ++k) steps.push_back(insert(k));
    for (const auto& error : run(steps)) EXPECT_FALSE(error);
    EXPECT_EQ(rows(), 200);
    EXPECT_EQ(transactions(), 1);
}

TEST_F(PgDatabase, AStepThatViolatesAConstraintFailsAlone) {
    Steps steps;
    for (int k = 0; k < 10; ++k) steps.push_back(insert(k == 5 ? 2 : k));  // 5 repeats key 2
    const auto errors = run(steps);
    for (int i = 0; i < 10; ++i) EXPECT_EQ(static_cast<bool>(errors[i]), i == 5) << i;
    EXPECT_EQ(store_error(errors[5]).sqlstate(), "23505");
    EXPECT_EQ(rows(), 9);
}

TEST_F(PgDatabase, SeveralFailuresAnywhereFailOnlyTheirSteps) {
    database_->run_batch({});  // nothing to do
    Steps steps;
    const std::vector<int> bad{0, 3, 4, 7, 11};  // first, adjacent, middle, last
    for (int i = 0; i < 12; ++i)
        steps.push_back(std::find(bad.begin(), bad.end(), i) != bad.end()
                            ? insert(100 + i, std::string("\xff", 1))  // not UTF-8: 22021
                            : insert(i));
    const auto errors = run(steps);
    for (int i = 0; i < 12; ++i) {
        const bool failed = std::find(bad.begin(), bad.end(), i) != bad.end();
        EXPECT_EQ(static_cast<bool>(errors[i]), failed) << i;
        if (failed) {
            EXPECT_EQ(store_error(errors[i]).sqlstate(), "22021") << i;
        }
        EXPECT_EQ(has(failed ? 100 + i : i), !failed) << i;
    }
    EXPECT_EQ(rows(), 7);
}

TEST_F(PgDatabase, AStepThatThrowsBeforeSendingFailsAlone) {
    Steps steps{insert(1), [](Connection&) { throw InvalidArgument("bad argument"); }, insert(2)};
    const auto errors = run(steps);
    EXPECT_FALSE(errors[0]);
    EXPECT_THROW(std::rethrow_exception(errors[1]), InvalidArgument);
    EXPECT_FALSE(errors[2]);
    EXPECT_EQ(rows(), 2);
}

TEST_F(PgDatabase, AStepThatThrowsAfterSendingIsUndone) {
    for (bool savepoint_round : {false, true}) {
        const std::int64_t base = savepoint_round ? 100 : 0;
        Steps steps{insert(base + 1),
                    [&](Connection& c) {
                        insert(base + 50)(c);
                        throw std::runtime_error("failed after sending");
                    },
                    insert(base + 2)};
        // A second failure first puts the batch in savepoint mode.
        if (savepoint_round) steps.insert(steps.begin(), insert(base + 1));
        const auto errors = run(steps);
        EXPECT_FALSE(has(base + 50));
        EXPECT_TRUE(has(base + 1));
        EXPECT_TRUE(has(base + 2));
        EXPECT_THROW(std::rethrow_exception(errors[savepoint_round ? 2 : 1]), std::runtime_error);
    }
}

TEST_F(PgDatabase, ResultCallbacksRunBeforeTheBatchReturns) {
    auto seen = std::make_shared<std::int64_t>(-1);
    Steps steps{insert(1), insert(2), [seen](Connection& c) {
                    c.send(kCount, Params(), [seen](pg::Result& r) { *seen = r.int64(0, 0); });
                }};
    for (const auto& error : run(steps)) EXPECT_FALSE(error);
    EXPECT_EQ(*seen, 2);  // sees the writes before it in the same transaction
}

TEST_F(PgDatabase, ALostConnectionFailsTheBatchAndTheNextOneReconnects) {
    Steps steps{insert(1),
                [](Connection& c) { c.send_sql("SELECT pg_terminate_backend(pg_backend_pid())"); },
                insert(2)};
    const auto errors = run(steps);
    for (const auto& error : errors) {
        ASSERT_TRUE(error);
        EXPECT_EQ(store_error(error).kind(), StoreErrorKind::Connection);
    }
    EXPECT_EQ(rows(), 0);
    const auto opened = database_->connections_opened();
    for (const auto& error : run(Steps{insert(3)})) EXPECT_FALSE(error);
    EXPECT_TRUE(has(3));
    EXPECT_GT(database_->connections_opened(), opened);
}

TEST_F(PgDatabase, ConnectionsTheServerClosedWhileIdleAreReplaced) {
    for (const auto& error : run(Steps{insert(1)})) EXPECT_FALSE(error);
    EXPECT_EQ(
        database_->with_reader([](Connection& c) { return c.query(kCount, Params()).int64(0, 0); }),
        1);
    ASSERT_GE(schema_->sessions(), 2);
    schema_->terminate_sessions();  // what a server restart does
    for (const auto& error : run(Steps{insert(2)})) EXPECT_FALSE(error);
    EXPECT_EQ(
        database_->with_reader([](Connection& c) { return c.query(kCount, Params()).int64(0, 0); }),
        2);
}

TEST_F(PgDatabase, AStatementPastTheTimeoutFailsTheWholeBatchOnce) {
    database_ = open(std::chrono::milliseconds(300));
    RawPg locker(schema_->dsn());
    locker.exec("BEGIN");
    locker.exec("LOCK TABLE items IN ACCESS EXCLUSIVE MODE");
    Steps steps;
    for (int k = 0; k < 20; ++k) steps.push_back(insert(k));
    const auto start = std::chrono::steady_clock::now();
    const auto errors = run(steps);
    const auto took = std::chrono::steady_clock::now() - start;
    for (const auto& error : errors) {
        ASSERT_TRUE(error);
        EXPECT_EQ(store_error(error).kind(), StoreErrorKind::Timeout);
        EXPECT_EQ(store_error(error).sqlstate(), "57014");
    }
    EXPECT_LT(took, std::chrono::seconds(3));  // one timeout, not one per step
    EXPECT_THROW(database_->with_reader([](Connection& c) { c.query(kCount, Params()); }),
                 StoreError);
    locker.exec("COMMIT");
    for (const auto& error : run(steps)) EXPECT_FALSE(error);  // the same database recovers
    EXPECT_EQ(rows(), 20);
}

TEST_F(PgDatabase, PoolIsBoundedAndReused) {
    database_ = open(std::chrono::seconds(10), 2);
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            for (int i = 0; i < 20; ++i) {
                try {
                    database_->with_reader([](Connection& c) { c.query(kCount, Params()); });
                } catch (...) {
                    ++failures;
                }
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_LE(database_->open_connections(), 2);
    EXPECT_LE(database_->connections_opened(), 2u);
}

TEST_F(PgDatabase, CloseRefusesLaterCallsAndEndsTheSessions) {
    for (const auto& error : run(Steps{insert(1)})) EXPECT_FALSE(error);
    database_->close();
    EXPECT_TRUE(database_->is_closed());
    try {
        database_->with_reader([](Connection&) {});
        FAIL() << "no error after close";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.kind(), StoreErrorKind::Closed);
    }
    EXPECT_EQ(store_error(run(Steps{insert(2)})[0]).kind(), StoreErrorKind::Closed);
    database_->close();  // idempotent
    for (int i = 0; i < 50 && schema_->sessions() > 0; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    EXPECT_EQ(schema_->sessions(), 0);
}

TEST_F(PgDatabase, AForkedChildUsesItsOwnConnectionsAndLeavesTheParentsAlone) {
    for (const auto& error : run(Steps{insert(1)})) EXPECT_FALSE(error);
    const ChildResult child = run_in_child([&](std::string& message) {
        for (const auto& error : run(Steps{insert(2)}))
            if (error) {
                message = "child batch failed";
                return 1;
            }
        const auto count = database_->with_reader(
            [](Connection& c) { return c.query(kCount, Params()).int64(0, 0); });
        if (count != 2) {
            message = "child counted " + std::to_string(count);
            return 2;
        }
        return 0;  // leaves with _exit(): nothing closed
    });
    EXPECT_EQ(child.exit_code, 0) << child.message;
    // The parent's connections were not touched by the child.
    for (const auto& error : run(Steps{insert(3)})) EXPECT_FALSE(error);
    EXPECT_EQ(
        database_->with_reader([](Connection& c) { return c.query(kCount, Params()).int64(0, 0); }),
        3);
}

TEST_F(PgDatabase, NewerSchemaVersionIsRefused) {
    schema_->raw().exec("UPDATE asap_native_schema SET version = 99 WHERE component = 'items'");
    try {
        open(std::chrono::seconds(5));
        FAIL() << "opened a newer schema";
    } catch (const StoreError& e) {
        EXPECT_NE(std::string(e.what()).find("newer than this asap_native knows"),
                  std::string::npos)
            << e.what();
    }
}

TEST_F(PgDatabase, MigrationsRunOnceAndAreRecorded) {
    EXPECT_EQ(
        schema_->raw().integer("SELECT version FROM asap_native_schema WHERE component = 'items'"),
        1);
    open(std::chrono::seconds(5));  // a second opener finds the schema current
    EXPECT_EQ(schema_->raw().integer("SELECT count(*) FROM asap_native_schema"), 1);
}

TEST_F(PgDatabase, ConcurrentOpenersOfANewSchemaDoNotRace) {
    TestSchema fresh;
    std::vector<std::thread> threads;
    std::atomic<int> failures{0};
    for (int i = 0; i < 6; ++i)
        threads.emplace_back([&] {
            try {
                Database(fresh.options(),
                         pg::Schema{"items", {"CREATE TABLE items (k bigint PRIMARY KEY)"}}, {});
            } catch (const std::exception& e) {
                ++failures;
            }
        });
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
}

}  // namespace
}  // namespace asap_native::testing

#endif  // ASAP_NATIVE_HAS_POSTGRES
