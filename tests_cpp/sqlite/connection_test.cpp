// sqlite::Connection: opening, executing, the statement cache and error translation.
#include "asap_native/sqlite/connection.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

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
