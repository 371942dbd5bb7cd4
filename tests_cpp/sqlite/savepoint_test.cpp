// sqlite::Savepoint: release keeps, rollback undoes the work since the savepoint alone and
// leaves the transaction open, scope exit without either undoes, a lost transaction throws.
#include "asap_native/sqlite/savepoint.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>

#include "asap_native/errors.hpp"
#include "asap_native/sqlite/connection.hpp"
#include "asap_native/sqlite/statement.hpp"

namespace asap_native::sqlite {
namespace {

class SavepointTest : public ::testing::Test {
protected:
    SavepointTest() { connection_.execute("CREATE TABLE t (x)"); }
    std::int64_t count() {
        Statement::Use s(connection_.statement("SELECT count(*) FROM t"));
        s->step();
        return s->column_int64(0);
    }
    void insert(int x) { connection_.execute("INSERT INTO t VALUES (" + std::to_string(x) + ")"); }

    Connection connection_{":memory:", {}};
};

TEST_F(SavepointTest, ReleaseKeepsTheWorkInsideTheTransaction) {
    connection_.execute("BEGIN");
    {
        Savepoint step(connection_, "step");
        insert(1);
        step.release();
    }
    EXPECT_TRUE(connection_.in_transaction());
    EXPECT_EQ(count(), 1);
    connection_.execute("ROLLBACK");
    EXPECT_EQ(count(), 0);  // released into the transaction, not committed
}

TEST_F(SavepointTest, RollbackUndoesOnlyTheWorkSinceItAndTheTransactionGoesOn) {
    connection_.execute("BEGIN");
    insert(1);
    {
        Savepoint step(connection_, "step");
        insert(2);
        step.rollback();
    }
    EXPECT_TRUE(connection_.in_transaction());
    EXPECT_EQ(count(), 1);
    insert(3);
    connection_.execute("COMMIT");
    EXPECT_EQ(count(), 2);
}

TEST_F(SavepointTest, LeavingTheScopeWithoutReleaseUndoes) {
    connection_.execute("BEGIN");
    insert(1);
    try {
        Savepoint step(connection_, "step");
        insert(2);
        throw std::runtime_error("the step failed");
    } catch (const std::runtime_error&) {
    }
    EXPECT_TRUE(connection_.in_transaction());
    EXPECT_EQ(count(), 1);
    connection_.execute("COMMIT");
}

TEST_F(SavepointTest, SavepointsOfOneNameOneAfterAnotherAreIndependent) {
    // As run_batch uses them: one per step, all with the same name.
    connection_.execute("BEGIN");
    for (int i = 0; i < 6; ++i) {
        Savepoint step(connection_, "group_commit_step");
        insert(i);
        if (i % 2 == 0)
            step.release();
        else
            step.rollback();
    }
    connection_.execute("COMMIT");
    EXPECT_EQ(count(), 3);
}

TEST_F(SavepointTest, OutsideATransactionReleaseCommits) {
    {
        Savepoint step(connection_, "step");
        EXPECT_TRUE(connection_.in_transaction());
        insert(1);
        step.release();
    }
    EXPECT_FALSE(connection_.in_transaction());
    EXPECT_EQ(count(), 1);
}

TEST_F(SavepointTest, RollbackThrowsWhenTheTransactionIsGoneAndTheDestructorDoesNot) {
    connection_.execute("BEGIN");
    {
        Savepoint step(connection_, "step");
        insert(1);
        connection_.execute("ROLLBACK");  // the whole transaction, savepoint and all
        EXPECT_THROW(step.rollback(), StoreError);
    }
    {
        connection_.execute("BEGIN");
        Savepoint step(connection_, "step");
        connection_.execute("ROLLBACK");
    }  // ~Savepoint finds nothing to undo, and says nothing
    EXPECT_FALSE(connection_.in_transaction());
    EXPECT_EQ(count(), 0);
}

}  // namespace
}  // namespace asap_native::sqlite
