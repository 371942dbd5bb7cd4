// sqlite::Transaction: commit keeps, scope exit without commit rolls back, BEGIN IMMEDIATE
// takes the write lock at once, and a transaction cannot begin inside another.
#include "asap_native/sqlite/transaction.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <stdexcept>
#include <string>

#include "../test_support.hpp"
#include "asap_native/errors.hpp"
#include "asap_native/sqlite/connection.hpp"
#include "asap_native/sqlite/statement.hpp"

namespace asap_native::sqlite {
namespace {

std::int64_t count(Connection& c) {
    Statement::Use s(c.statement("SELECT count(*) FROM t"));
    s->step();
    return s->column_int64(0);
}

TEST(Transaction, CommitKeepsAndDestructionRollsBack) {
    Connection c(":memory:", {});
    c.execute("CREATE TABLE t (x)");
    {
        Transaction tx(c);
        c.execute("INSERT INTO t VALUES (1)");
        tx.commit();
    }
    EXPECT_EQ(count(c), 1);
    {
        Transaction tx(c);
        c.execute("INSERT INTO t VALUES (2)");
    }
    EXPECT_EQ(count(c), 1);
    try {
        Transaction tx(c);
        c.execute("INSERT INTO t VALUES (3)");
        throw std::runtime_error("abandon");
    } catch (const std::runtime_error&) {
    }
    EXPECT_EQ(count(c), 1);
    // No transaction is left open.
    Transaction tx(c);
    tx.commit();
}

TEST(Transaction, TakesTheWriteLockWhenItBegins) {
    asap_native::testing::TempDir dir;
    const std::string path = dir.file("transaction.db");
    Connection c(path, {});
    c.execute("CREATE TABLE t (x)");
    asap_native::testing::RawDb other(path, 0);
    {
        Transaction tx(c);  // nothing written yet
        EXPECT_THROW(other.exec("BEGIN IMMEDIATE"), std::runtime_error);
    }
    other.exec("BEGIN IMMEDIATE");
    ConnectionOptions impatient;
    impatient.busy_timeout = std::chrono::milliseconds(0);
    Connection waiting(path, impatient);
    try {
        Transaction tx(waiting);
        ADD_FAILURE() << "began while another connection held the write lock";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.kind(), StoreErrorKind::Busy);
    }
    EXPECT_FALSE(waiting.in_transaction());
    other.exec("ROLLBACK");
}

TEST(Transaction, CannotBeginInsideAnother) {
    Connection c(":memory:", {});
    Transaction outer(c);
    EXPECT_THROW(Transaction inner(c), StoreError);
    EXPECT_TRUE(c.in_transaction());  // the outer one is untouched
    outer.commit();
    EXPECT_FALSE(c.in_transaction());
}

}  // namespace
}  // namespace asap_native::sqlite
