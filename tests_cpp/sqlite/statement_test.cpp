// sqlite::Statement: binding, stepping, columns and reuse.
#include "asap_native/sqlite/statement.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <limits>
#include <string>

#include "asap_native/errors.hpp"
#include "asap_native/sqlite/connection.hpp"

namespace asap_native::sqlite {
namespace {

class StatementTest : public ::testing::Test {
protected:
    void SetUp() override { c_.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v TEXT)"); }
    Connection c_{":memory:", {}};
};

TEST_F(StatementTest, BindsAndReadsEveryType) {
    const std::string with_nul("a\0b\xC3\xA9", 5);
    {
        Statement::Use insert(c_.statement("INSERT INTO t VALUES (?1, ?2)"));
        insert->bind(1, std::numeric_limits<std::int64_t>::min());
        insert->bind(2, std::string_view(with_nul));
        insert->run();
    }
    {
        Statement::Use insert(c_.statement("INSERT INTO t VALUES (?1, ?2)"));
        insert->bind(1, std::int64_t{7});
        insert->bind_null(2);
        insert->run();
    }
    Statement::Use select(c_.statement("SELECT k, v FROM t ORDER BY k"));
    ASSERT_TRUE(select->step());
    EXPECT_EQ(select->column_int64(0), std::numeric_limits<std::int64_t>::min());
    EXPECT_EQ(select->column_text(1), with_nul);  // length-exact, embedded NUL kept
    EXPECT_FALSE(select->column_is_null(1));
    ASSERT_TRUE(select->step());
    EXPECT_EQ(select->column_int64(0), 7);
    EXPECT_TRUE(select->column_is_null(1));
    EXPECT_TRUE(select->column_text(1).empty());
    EXPECT_FALSE(select->step());
}

TEST_F(StatementTest, UseResetsSoTheStatementRunsAgainWithFreshBindings) {
    auto& select = c_.statement("SELECT ?1");
    for (std::int64_t i = 0; i < 3; ++i) {
        Statement::Use use(select);
        use->bind(1, i);
        ASSERT_TRUE(use->step());
        EXPECT_EQ(use->column_int64(0), i);
        // Not stepped to the end: the guard resets it anyway.
    }
    Statement::Use use(select);
    ASSERT_TRUE(use->step());
    EXPECT_TRUE(use->column_is_null(0));  // bindings were cleared
}

TEST_F(StatementTest, ResetAfterAnExceptionLeavesItUsable) {
    c_.execute("INSERT INTO t VALUES (1, 'x')");
    auto& insert = c_.statement("INSERT INTO t VALUES (?1, 'y')");
    try {
        Statement::Use use(insert);
        use->bind(1, std::int64_t{1});
        use->run();
        FAIL() << "duplicate key accepted";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.sqlite_code(), SQLITE_CONSTRAINT_PRIMARYKEY);
    }
    Statement::Use use(insert);
    use->bind(1, std::int64_t{2});
    use->run();
    EXPECT_EQ(c_.changes(), 1);
}

TEST_F(StatementTest, BindingOutOfRangeIsAStoreError) {
    Statement::Use use(c_.statement("SELECT ?1"));
    try {
        use->bind(5, std::int64_t{1});
        FAIL() << "no exception";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.sqlite_code() & 0xff, SQLITE_RANGE);
    }
}

TEST_F(StatementTest, KeepsItsTailWhateverBecomesOfTheSqlItWasPreparedFrom) {
    // A cached statement outlives the text it was first prepared from.
    std::string sql = "SELECT 1; -- and then";
    Statement statement(c_.handle(), sql);
    sql.assign(sql.size(), 'x');
    sql.clear();
    sql.shrink_to_fit();
    EXPECT_EQ(statement.tail(), " -- and then");
}

}  // namespace
}  // namespace asap_native::sqlite
