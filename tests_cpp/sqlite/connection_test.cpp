// sqlite::Connection: opening, executing, the statement caches (the library's, and the bounded
// one for user SQL), last_insert_rowid, in_transaction and error translation.
#include "asap_native/sqlite/connection.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <memory>
#include <string>
#include <vector>

#include "../test_support.hpp"
#include "asap_native/errors.hpp"
#include "asap_native/sqlite/statement.hpp"

namespace asap_native::sqlite {
namespace {

using asap_native::testing::TempDir;

TEST(Connection, ExecuteAndChanges) {
    Connection c(":memory:", {});
    c.execute("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1), (2), (3);");
    EXPECT_EQ(c.changes(), 3);
    c.execute("DELETE FROM t WHERE x > 1");
    EXPECT_EQ(c.changes(), 2);
    EXPECT_FALSE(c.is_read_only());
    EXPECT_NE(c.handle(), nullptr);
}

TEST(Connection, StatementsAreCachedBySql) {
    Connection c(":memory:", {});
    Statement& first = c.statement("SELECT 1");
    Statement& again = c.statement("SELECT 1");
    Statement& other = c.statement("SELECT 2");
    EXPECT_EQ(&first, &again);
    EXPECT_NE(&first, &other);
}

TEST(Connection, SqlErrorsAreStoreErrorsWithSqlitesCodeAndMessage) {
    Connection c(":memory:", {});
    try {
        c.execute("SELECT * FROM missing_table");
        FAIL() << "no exception";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.kind(), StoreErrorKind::Other);
        EXPECT_EQ(e.sqlite_code() & 0xff, SQLITE_ERROR);
        EXPECT_NE(std::string(e.what()).find("missing_table"), std::string::npos) << e.what();
    }
    try {
        c.statement("NOT SQL AT ALL");
        FAIL() << "no exception";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.sqlite_code() & 0xff, SQLITE_ERROR);
    }
    // A failed prepare is not cached: the next call fails again rather than using a stub.
    EXPECT_THROW(c.statement("NOT SQL AT ALL"), StoreError);
    c.execute("CREATE TABLE t (x PRIMARY KEY)");
    c.execute("INSERT INTO t VALUES (1)");
    try {
        c.execute("INSERT INTO t VALUES (1)");
        FAIL() << "no exception";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.sqlite_code(), SQLITE_CONSTRAINT_PRIMARYKEY);  // the extended code
        EXPECT_EQ(e.sqlite_error_name(), "SQLITE_CONSTRAINT");
    }
}

TEST(Connection, OpeningADirectoryIsCantOpen) {
    TempDir dir;
    try {
        Connection c(dir.path(), {});
        // Some SQLite builds open lazily; the first read must then fail.
        c.execute("SELECT * FROM sqlite_master");
        FAIL() << "opened a directory";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.kind(), StoreErrorKind::CantOpen);
        EXPECT_EQ(e.sqlite_code() & 0xff, SQLITE_CANTOPEN);
    }
}

// The cache's capacity, as Python's sqlite3 bounds its own statement cache.
constexpr int kUserStatements = 128;

std::string numbered_select(int number) { return "SELECT " + std::to_string(number); }

TEST(ConnectionUserStatements, TheSameSqlGivesTheSameStatement) {
    Connection c(":memory:", {});
    const auto first = c.user_statement("SELECT 1");
    EXPECT_EQ(c.user_statement("SELECT 1"), first);
    EXPECT_NE(c.user_statement("SELECT 2"), first);
    EXPECT_NE(c.user_statement("SELECT 1 "), first);  // cached by its exact text
}

TEST(ConnectionUserStatements, AreKeptApartFromTheLibrarysStatements) {
    Connection c(":memory:", {});
    Statement& library = c.statement("SELECT 1");
    EXPECT_NE(c.user_statement("SELECT 1").get(), &library);
    for (int i = 0; i < 2 * kUserStatements; ++i) c.user_statement(numbered_select(i));
    // User statements never push the library's own out of their cache.
    EXPECT_EQ(&c.statement("SELECT 1"), &library);
}

TEST(ConnectionUserStatements, HoldTheMostRecentlyUsed128) {
    Connection c(":memory:", {});
    // A held statement's use_count() is 2 while the cache holds it too, 1 once it is dropped.
    const auto oldest = c.user_statement(numbered_select(0));
    for (int i = 1; i < kUserStatements; ++i) c.user_statement(numbered_select(i));
    EXPECT_EQ(oldest.use_count(), 2) << "dropped before the cache was full";
    c.user_statement(numbered_select(kUserStatements));
    EXPECT_EQ(oldest.use_count(), 1) << "the least recently used was not dropped";
    // Asked for again, it is prepared afresh.
    EXPECT_NE(c.user_statement(numbered_select(0)), oldest);
}

TEST(ConnectionUserStatements, UsingAStatementKeepsItCached) {
    Connection c(":memory:", {});
    const auto kept = c.user_statement(numbered_select(0));
    const auto dropped = c.user_statement(numbered_select(1));
    for (int i = 2; i < kUserStatements; ++i) c.user_statement(numbered_select(i));
    EXPECT_EQ(c.user_statement(numbered_select(0)), kept);  // now the most recently used
    c.user_statement(numbered_select(kUserStatements));
    EXPECT_EQ(kept.use_count(), 2);
    EXPECT_EQ(dropped.use_count(), 1);
}

TEST(ConnectionUserStatements, ADroppedStatementStillWorksForWhoeverHoldsIt) {
    Connection c(":memory:", {});
    const auto held = c.user_statement("SELECT 'held'");
    for (int i = 0; i < kUserStatements; ++i) c.user_statement(numbered_select(i));
    ASSERT_EQ(held.use_count(), 1);
    Statement::Use use(*held);
    ASSERT_TRUE(held->step());
    EXPECT_EQ(held->column_text(0), "held");
}

TEST(ConnectionUserStatements, AStatementMayOutliveItsConnection) {
    Connection(":memory:", {}).execute("SELECT 1");  // SQLite's one-time set-up, done
    const sqlite3_int64 before = sqlite3_memory_used();
    std::shared_ptr<Statement> held;
    sqlite3_int64 while_held = 0;
    {
        Connection c(":memory:", {});
        held = c.user_statement("SELECT 1");
        while_held = sqlite3_memory_used();
    }
    if (while_held == 0) GTEST_SKIP() << "this SQLite keeps no memory statistics";
    EXPECT_GT(while_held, before);
    // The connection waits, closed, for its last statement: then both are freed.
    EXPECT_GT(sqlite3_memory_used(), before);
    held.reset();
    EXPECT_EQ(sqlite3_memory_used(), before);
}

TEST(ConnectionUserStatements, SqlThatDoesNotPrepareIsNotCached) {
    Connection c(":memory:", {});
    EXPECT_THROW(c.user_statement("SELECT * FROM later"), StoreError);
    c.execute("CREATE TABLE later (x)");
    const auto statement = c.user_statement("SELECT * FROM later");
    Statement::Use use(*statement);
    EXPECT_FALSE(statement->step());
}

TEST(ConnectionUserStatements, AStatementInvalidatedByASchemaChangeStillWorks) {
    TempDir dir;
    const std::string path = dir.file("schema.db");
    Connection c(path, {});
    c.execute("CREATE TABLE t (x); INSERT INTO t VALUES (1)");
    const auto statement = c.user_statement("SELECT count(*) FROM t");
    const auto count = [&] {
        Statement::Use use(*statement);
        EXPECT_TRUE(statement->step());
        return statement->column_int64(0);
    };
    EXPECT_EQ(count(), 1);
    c.execute("CREATE INDEX t_x ON t (x); INSERT INTO t VALUES (2)");
    EXPECT_EQ(c.user_statement("SELECT count(*) FROM t"), statement);
    EXPECT_EQ(count(), 2);
    // A change made by another connection invalidates it too.
    asap_native::testing::RawDb(path).exec(
        "ALTER TABLE t ADD COLUMN y; INSERT INTO t VALUES (3, 3)");
    EXPECT_EQ(count(), 3);
    // Its table dropped, it fails; recreated, it works again.
    c.execute("DROP TABLE t");
    {
        Statement::Use use(*statement);
        EXPECT_THROW(statement->step(), StoreError);
    }
    c.execute("CREATE TABLE t (z)");
    EXPECT_EQ(count(), 0);
}

TEST(Connection, LastInsertRowidIsThisConnectionsLatestInsert) {
    TempDir dir;
    const std::string path = dir.file("rowid.db");
    Connection c(path, {});
    EXPECT_EQ(c.last_insert_rowid(), 0);
    c.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x)");
    c.execute("INSERT INTO t (id, x) VALUES (7, 'a')");
    EXPECT_EQ(c.last_insert_rowid(), 7);
    c.execute("INSERT INTO t (x) VALUES ('b'), ('c')");
    EXPECT_EQ(c.last_insert_rowid(), 9);
    c.execute("UPDATE t SET x = 'd'; DELETE FROM t WHERE id = 9");
    EXPECT_EQ(c.last_insert_rowid(), 9);
    // Another connection's inserts are its own.
    Connection other(path, {});
    other.execute("INSERT INTO t (id, x) VALUES (100, 'e')");
    EXPECT_EQ(other.last_insert_rowid(), 100);
    EXPECT_EQ(c.last_insert_rowid(), 9);
}

TEST(Connection, InTransactionFollowsBeginCommitRollbackAndSavepoints) {
    Connection c(":memory:", {});
    c.execute("CREATE TABLE t (x)");
    EXPECT_FALSE(c.in_transaction());
    c.execute("BEGIN");
    EXPECT_TRUE(c.in_transaction());
    c.execute("INSERT INTO t VALUES (1)");
    c.execute("COMMIT");
    EXPECT_FALSE(c.in_transaction());
    c.execute("BEGIN IMMEDIATE");
    EXPECT_TRUE(c.in_transaction());
    c.execute("ROLLBACK");
    EXPECT_FALSE(c.in_transaction());
    c.execute("SAVEPOINT s");  // outside a transaction, a savepoint begins one
    EXPECT_TRUE(c.in_transaction());
    c.execute("RELEASE s");
    EXPECT_FALSE(c.in_transaction());
    // A statement that fails in autocommit mode leaves no transaction behind.
    EXPECT_THROW(c.execute("INSERT INTO missing VALUES (1)"), StoreError);
    EXPECT_FALSE(c.in_transaction());
}

TEST(ThrowSqliteError, UsesTheExtendedCodeOfTheConnection) {
    Connection c(":memory:", {});
    c.execute("CREATE TABLE t (x UNIQUE)");
    c.execute("INSERT INTO t VALUES (1)");
    const int rc = sqlite3_exec(c.handle(), "INSERT INTO t VALUES (1)", nullptr, nullptr, nullptr);
    try {
        throw_sqlite_error(c.handle(), rc, "context");
    } catch (const StoreError& e) {
        EXPECT_EQ(e.sqlite_code(), SQLITE_CONSTRAINT_UNIQUE);
        EXPECT_EQ(std::string(e.what()).rfind("context: ", 0), 0u) << e.what();
    }
    try {
        throw_sqlite_error(nullptr, SQLITE_BUSY, "no connection");
    } catch (const StoreError& e) {
        EXPECT_EQ(e.kind(), StoreErrorKind::Busy);
        EXPECT_EQ(e.sqlite_code(), SQLITE_BUSY);
    }
}

}  // namespace
}  // namespace asap_native::sqlite
