// sqlite::Transaction: commit keeps, scope exit without commit rolls back.
#include "asap_native/sqlite/transaction.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

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

}  // namespace
}  // namespace asap_native::sqlite
