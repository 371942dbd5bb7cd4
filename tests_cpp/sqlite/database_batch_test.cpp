// sqlite::Database::run_batch: one transaction for every step, one savepoint per step, and
// what each step is told when a step, the BEGIN or the COMMIT fails.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "../test_support.hpp"
#include "asap_native/errors.hpp"
#include "asap_native/sqlite/database.hpp"
#include "asap_native/sqlite/statement.hpp"

namespace asap_native::sqlite {
namespace {

using asap_native::testing::message_of;
using asap_native::testing::RawDb;
using asap_native::testing::TempDir;

constexpr const char* kSchema = "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT)";

void insert(Connection& c, std::int64_t key) {
    Statement::Use s(c.statement("INSERT INTO t (k, v) VALUES (?1, 'value')"));
    s->bind(1, key);
    s->run();
}

/// The StoreError kind of `error`, or nullopt when it is something else.
std::optional<StoreErrorKind> store_kind(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const StoreError& e) {
        return e.kind();
    } catch (...) {
        return std::nullopt;
    }
}

int count_commits(void* counter) {
    ++*static_cast<int*>(counter);
    return 0;  // let the commit proceed
}

class DatabaseBatchTest : public ::testing::Test {
protected:
    std::vector<std::exception_ptr> run(const std::vector<BatchStep<Connection>>& steps) {
        std::vector<const BatchStep<Connection>*> pointers;
        for (const auto& step : steps) pointers.push_back(&step);
        return db_.run_batch(pointers);
    }
    std::int64_t rows(const std::string& where = "1") {
        return RawDb(path_).integer("SELECT count(*) FROM t WHERE " + where);
    }
    static BatchStep<Connection> inserting(std::int64_t key) {
        return [key](Connection& c) { insert(c, key); };
    }

    TempDir dir_;
    std::string path_ = dir_.file("batch.db");
    Database db_{path_, {}, kSchema};
};

TEST_F(DatabaseBatchTest, EmptyBatchDoesNothing) {
    EXPECT_TRUE(db_.run_batch({}).empty());
    EXPECT_EQ(rows(), 0);
}

TEST_F(DatabaseBatchTest, EveryStepCommitsInOneTransaction) {
    int commits = 0;
    db_.with_writer(
        [&](Connection& c) { sqlite3_commit_hook(c.handle(), count_commits, &commits); });
    std::vector<BatchStep<Connection>> steps;
    for (int i = 0; i < 10; ++i) steps.push_back(inserting(i));
    // A later step sees what the earlier ones wrote: they share the transaction.
    std::int64_t seen_by_last = -1;
    steps.push_back([&](Connection& c) {
        Statement::Use s(c.statement("SELECT count(*) FROM t"));
        s->step();
        seen_by_last = s->column_int64(0);
    });
    const auto errors = run(steps);
    ASSERT_EQ(errors.size(), steps.size());
    for (std::size_t i = 0; i < errors.size(); ++i) EXPECT_FALSE(errors[i]) << i;
    EXPECT_EQ(commits, 1);
    EXPECT_EQ(seen_by_last, 10);
    EXPECT_EQ(rows(), 10);  // visible to another connection once run_batch returns
    db_.with_writer([](Connection& c) { sqlite3_commit_hook(c.handle(), nullptr, nullptr); });
}

TEST_F(DatabaseBatchTest, AThrowingStepIsRolledBackAlone) {
    std::vector<BatchStep<Connection>> steps;
    for (int i = 0; i < 6; ++i) {
        if (i == 3)
            steps.push_back([](Connection& c) {
                insert(c, 3);
                insert(c, 103);
                throw std::runtime_error("step 3 gave up");
            });
        else
            steps.push_back(inserting(i));
    }
    const auto errors = run(steps);
    for (int i = 0; i < 6; ++i) {
        if (i == 3) {
            ASSERT_TRUE(errors[i]);
            EXPECT_EQ(message_of(errors[i]), "step 3 gave up");
        } else {
            EXPECT_FALSE(errors[i]) << i << ": " << message_of(errors[i]);
        }
    }
    EXPECT_EQ(rows(), 5);
    EXPECT_EQ(rows("k IN (3, 103)"), 0);
}

TEST_F(DatabaseBatchTest, ASingleThrowingStepLeavesNothingBehind) {
    // The same promise as in a larger batch: a step that throws is rolled back, even when
    // it is alone in its batch.
    const auto errors = run({[](Connection& c) {
        insert(c, 1);
        throw std::runtime_error("gave up after writing");
    }});
    ASSERT_EQ(errors.size(), 1u);
    ASSERT_TRUE(errors[0]);
    EXPECT_EQ(message_of(errors[0]), "gave up after writing");
    EXPECT_EQ(rows(), 0);
    // And the writer is usable afterwards.
    const auto next = run({inserting(2)});
    EXPECT_FALSE(next[0]) << message_of(next[0]);
    EXPECT_EQ(rows(), 1);
}

TEST_F(DatabaseBatchTest, AConstraintViolationFailsOnlyItsStep) {
    const auto errors = run({inserting(1), inserting(2), inserting(1), inserting(3)});
    EXPECT_FALSE(errors[0]);
    EXPECT_FALSE(errors[1]);
    ASSERT_TRUE(errors[2]);
    EXPECT_EQ(store_kind(errors[2]), StoreErrorKind::Other);
    EXPECT_NE(message_of(errors[2]).find("UNIQUE"), std::string::npos) << message_of(errors[2]);
    EXPECT_FALSE(errors[3]);
    EXPECT_EQ(rows(), 3);
}

TEST_F(DatabaseBatchTest, ATriggerAbortFailsOnlyItsStep) {
    RawDb(path_).exec(
        "CREATE TRIGGER poison BEFORE INSERT ON t WHEN NEW.k = 13 "
        "BEGIN SELECT RAISE(ABORT, 'poisoned key'); END");
    std::vector<BatchStep<Connection>> steps;
    for (int i = 10; i < 20; ++i) steps.push_back(inserting(i));
    const auto errors = run(steps);
    for (int i = 10; i < 20; ++i) {
        const auto& error = errors[i - 10];
        if (i == 13) {
            ASSERT_TRUE(error);
            EXPECT_EQ(store_kind(error), StoreErrorKind::Other);
            EXPECT_NE(message_of(error).find("poisoned key"), std::string::npos)
                << message_of(error);
        } else {
            EXPECT_FALSE(error) << i << ": " << message_of(error);
        }
    }
    EXPECT_EQ(rows(), 9);
    EXPECT_EQ(rows("k = 13"), 0);
}

TEST_F(DatabaseBatchTest, ARollbackFromInsideAStepFailsTheWholeBatch) {
    // RAISE(ROLLBACK) ends the whole transaction, taking the earlier steps' rows with it:
    // every step must then be told it failed, and nothing may be half-written.
    RawDb(path_).exec(
        "CREATE TRIGGER wipe BEFORE INSERT ON t WHEN NEW.k = 3 "
        "BEGIN SELECT RAISE(ROLLBACK, 'whole batch rolled back'); END");
    const auto errors = run({inserting(1), inserting(2), inserting(3), inserting(4)});
    for (std::size_t i = 0; i < errors.size(); ++i) {
        ASSERT_TRUE(errors[i]) << i;
        EXPECT_TRUE(store_kind(errors[i]).has_value()) << i << ": " << message_of(errors[i]);
    }
    EXPECT_NE(message_of(errors[2]).find("whole batch rolled back"), std::string::npos)
        << message_of(errors[2]);
    EXPECT_EQ(rows(), 0);
    const auto next = run({inserting(5), inserting(6)});
    EXPECT_FALSE(next[0]) << message_of(next[0]);
    EXPECT_FALSE(next[1]) << message_of(next[1]);
    EXPECT_EQ(rows(), 2);
}

TEST_F(DatabaseBatchTest, ASingleStepRollbackIsReportedOnce) {
    RawDb(path_).exec(
        "CREATE TRIGGER wipe BEFORE INSERT ON t WHEN NEW.k = 3 "
        "BEGIN SELECT RAISE(ROLLBACK, 'rolled back alone'); END");
    const auto errors = run({inserting(3)});
    ASSERT_TRUE(errors[0]);
    EXPECT_NE(message_of(errors[0]).find("rolled back alone"), std::string::npos)
        << message_of(errors[0]);
    EXPECT_EQ(rows(), 0);
    EXPECT_FALSE(run({inserting(4)})[0]);
}

TEST_F(DatabaseBatchTest, ABusyDatabaseFailsEveryStepWithoutRunningAny) {
    Database db(dir_.file("busy.db"), {Durability::Normal, std::chrono::milliseconds(50)}, kSchema);
    RawDb holder(dir_.file("busy.db"));
    holder.exec("BEGIN IMMEDIATE");
    int runs = 0;
    const BatchStep<Connection> counted = [&](Connection& c) {
        ++runs;
        insert(c, runs);
    };
    const auto errors = db.run_batch({&counted, &counted, &counted});
    holder.exec("ROLLBACK");
    EXPECT_EQ(runs, 0);
    for (const auto& error : errors) {
        ASSERT_TRUE(error);
        EXPECT_EQ(store_kind(error), StoreErrorKind::Busy) << message_of(error);
    }
    const auto next = db.run_batch({&counted});
    EXPECT_FALSE(next[0]) << message_of(next[0]);
    EXPECT_EQ(runs, 1);
}

TEST_F(DatabaseBatchTest, ACommitThatFailsFailsEveryStepAndWritesNothing) {
    // A deferred foreign key is only checked at COMMIT, after every step succeeded.
    Database db(dir_.file("fk.db"), {},
                "CREATE TABLE IF NOT EXISTS parent (id INTEGER PRIMARY KEY);"
                "CREATE TABLE IF NOT EXISTS child (id INTEGER PRIMARY KEY, parent_id INTEGER "
                "REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)");
    db.with_writer([](Connection& c) { c.execute("PRAGMA foreign_keys=ON"); });
    const BatchStep<Connection> good = [](Connection& c) {
        c.execute("INSERT INTO parent (id) VALUES (1)");
    };
    const BatchStep<Connection> orphan = [](Connection& c) {
        c.execute("INSERT INTO child (id, parent_id) VALUES (1, 42)");
    };
    const auto errors = db.run_batch({&good, &orphan});
    for (const auto& error : errors) {
        ASSERT_TRUE(error);
        EXPECT_TRUE(store_kind(error).has_value()) << message_of(error);
        EXPECT_NE(message_of(error).find("FOREIGN KEY"), std::string::npos) << message_of(error);
    }
    RawDb raw(dir_.file("fk.db"));
    EXPECT_EQ(raw.integer("SELECT count(*) FROM parent"), 0);
    EXPECT_EQ(raw.integer("SELECT count(*) FROM child"), 0);
    // The failed transaction was rolled back: the writer takes the next batch.
    const auto next = db.run_batch({&good});
    EXPECT_FALSE(next[0]) << message_of(next[0]);
    EXPECT_EQ(raw.integer("SELECT count(*) FROM parent"), 1);
}

TEST_F(DatabaseBatchTest, AClosedDatabaseFailsEveryStep) {
    db_.close();
    int runs = 0;
    const BatchStep<Connection> counted = [&](Connection&) { ++runs; };
    const auto errors = db_.run_batch({&counted, &counted});
    EXPECT_EQ(runs, 0);
    for (const auto& error : errors) EXPECT_EQ(store_kind(error), StoreErrorKind::Closed);
}

TEST_F(DatabaseBatchTest, ManyFailingStepsInARowLeaveTheOthersIntact) {
    std::vector<BatchStep<Connection>> steps;
    for (int i = 0; i < 200; ++i) {
        if (i % 3 == 0)
            steps.push_back([i](Connection& c) {
                insert(c, 1000 + i);
                throw std::runtime_error("odd one out");
            });
        else
            steps.push_back(inserting(i));
    }
    const auto errors = run(steps);
    int failed = 0;
    for (int i = 0; i < 200; ++i) {
        EXPECT_EQ(static_cast<bool>(errors[i]), i % 3 == 0) << i;
        failed += errors[i] ? 1 : 0;
    }
    EXPECT_EQ(rows(), 200 - failed);
    EXPECT_EQ(rows("k >= 1000"), 0);
}

}  // namespace
}  // namespace asap_native::sqlite
