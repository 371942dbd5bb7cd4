// run_sql and run_script: SQL from outside the library run as Python's sqlite3 runs it:
// every value type bound and read back, parameters by position and by name with sqlite3's
// messages when they do not fit, one statement at a time, and what a result reports.
#include "asap_native/sqlite/sql_runner.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "../store_contracts.hpp"
#include "asap_native/errors.hpp"
#include "asap_native/sqlite/connection.hpp"

namespace asap_native::sqlite {
namespace {

using namespace std::string_literals;
using asap_native::testing::by_name;
using asap_native::testing::by_position;
using asap_native::testing::error_from;
using asap_native::testing::integer;
using asap_native::testing::store_error_from;
using Row = std::vector<SqlValue>;

class SqlRunnerTest : public ::testing::Test {
protected:
    SqlResult run(const std::string& sql, const SqlParameters& parameters = {}) {
        return run_sql(connection_, sql, parameters);
    }
    /// The message of the SqlUsageError that running `sql` throws.
    std::string usage_error(const std::string& sql, const SqlParameters& parameters = {}) {
        return error_from<SqlUsageError>([&] { run(sql, parameters); },
                                         SqlUsageError("none thrown"))
            .what();
    }
    std::int64_t count(const std::string& table) {
        return std::get<std::int64_t>(run("SELECT count(*) FROM " + table).rows.at(0).at(0));
    }

    Connection connection_{":memory:", {}};
};

TEST_F(SqlRunnerTest, EachValueTypeIsBoundAsItsStorageClass) {
    const SqlResult result =
        run("SELECT typeof(?1), typeof(?2), typeof(?3), typeof(?4), typeof(?5), typeof(?6), "
            "typeof(?7)",
            by_position({std::monostate{}, integer(42), 1.5, "text"s, SqlBlob{"\x01\x02"}, ""s,
                         SqlBlob{}}));
    ASSERT_EQ(result.rows.size(), 1u);
    // The empty text and the empty blob stay text and blob, not NULL.
    EXPECT_EQ(result.rows[0],
              (Row{"null"s, "integer"s, "real"s, "text"s, "blob"s, "text"s, "blob"s}));
}

TEST_F(SqlRunnerTest, ValuesReadBackAsTheyWereBound) {
    std::string every_byte;
    for (int byte = 0; byte < 256; ++byte) every_byte.push_back(static_cast<char>(byte));
    const Row values = {
        std::monostate{},
        integer(std::numeric_limits<std::int64_t>::min()),
        integer(std::numeric_limits<std::int64_t>::max()),
        integer(0),
        1.0 / 3.0,
        -1e308,
        std::numeric_limits<double>::infinity(),
        "a\0b"s,                                  // a NUL inside text is kept
        "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"s,  // é € 😀
        ""s,
        SqlBlob{every_byte},
        SqlBlob{},
    };
    std::string placeholders;
    for (std::size_t i = 0; i < values.size(); ++i) placeholders += i == 0 ? "?" : ", ?";
    const SqlResult selected = run("SELECT " + placeholders, by_position(values));
    ASSERT_EQ(selected.rows.size(), 1u);
    EXPECT_EQ(selected.rows[0], values);

    // The same through a table: what was stored is what a later query reads.
    run("CREATE TABLE t (" + std::string("c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11") + ")");
    run("INSERT INTO t VALUES (" + placeholders + ")", by_position(values));
    const SqlResult stored = run("SELECT * FROM t");
    ASSERT_EQ(stored.rows.size(), 1u);
    EXPECT_EQ(stored.rows[0], values);
}

TEST_F(SqlRunnerTest, NegativeZeroKeepsItsSignAndNanBecomesNull) {
    const SqlResult result = run("SELECT ?, ?", by_position({-0.0, std::nan("")}));
    ASSERT_EQ(result.rows.size(), 1u);
    ASSERT_TRUE(std::holds_alternative<double>(result.rows[0][0]));
    EXPECT_TRUE(std::signbit(std::get<double>(result.rows[0][0])));
    // SQLite stores NaN as NULL (Python's sqlite3 reads it back as None too).
    EXPECT_EQ(result.rows[0][1], SqlValue{});
}

TEST_F(SqlRunnerTest, PositionalValuesFillNumberedPlaceholdersByTheirNumber) {
    const SqlResult result = run("SELECT ?2, ?1, ?2", by_position({"first"s, "second"s}));
    EXPECT_EQ(result.rows.at(0), (Row{"second"s, "first"s, "second"s}));
}

TEST_F(SqlRunnerTest, PositionalValuesFillNamedPlaceholdersInOrder) {
    const SqlResult result = run("SELECT :b, :a", by_position({integer(1), integer(2)}));
    EXPECT_EQ(result.rows.at(0), (Row{integer(1), integer(2)}));
}

TEST_F(SqlRunnerTest, AWrongNumberOfPositionalValuesIsAUsageErrorWithSqlite3sMessage) {
    EXPECT_EQ(usage_error("SELECT ?, ?", by_position({integer(1)})),
              "Incorrect number of bindings supplied. The current statement uses 2, and there "
              "are 1 supplied.");
    EXPECT_EQ(usage_error("SELECT ?", by_position({integer(1), integer(2)})),
              "Incorrect number of bindings supplied. The current statement uses 1, and there "
              "are 2 supplied.");
    EXPECT_EQ(usage_error("SELECT 1", by_position({integer(1)})),
              "Incorrect number of bindings supplied. The current statement uses 0, and there "
              "are 1 supplied.");
    EXPECT_EQ(usage_error("SELECT ?"),
              "Incorrect number of bindings supplied. The current statement uses 1, and there "
              "are 0 supplied.");
    // ?3 alone makes three parameters, as sqlite3 counts them.
    EXPECT_EQ(usage_error("SELECT ?3", by_position({integer(1)})),
              "Incorrect number of bindings supplied. The current statement uses 3, and there "
              "are 1 supplied.");
}

TEST_F(SqlRunnerTest, NamedValuesAreLookedUpWithoutTheirPrefix) {
    const SqlResult result = run("SELECT :colon, @at, $dollar, :colon + 1",
                                 by_name({{"colon", integer(1)},
                                          {"at", "two"s},
                                          {"dollar", 3.5},
                                          {"unused", "ignored, as sqlite3 ignores it"s}}));
    EXPECT_EQ(result.rows.at(0), (Row{integer(1), "two"s, 3.5, integer(2)}));
}

TEST_F(SqlRunnerTest, NumberedPlaceholdersTakeNamedValuesByTheirNumber) {
    const SqlResult result = run("SELECT ?1", by_name({{"1", integer(5)}}));
    EXPECT_EQ(result.rows.at(0), (Row{integer(5)}));
}

TEST_F(SqlRunnerTest, AMissingNameIsAUsageErrorWithSqlite3sMessage) {
    // sqlite3 names the parameter with a colon, whatever prefix the SQL gave it.
    EXPECT_EQ(usage_error("SELECT :a, :b", by_name({{"a", integer(1)}})),
              "You did not supply a value for binding parameter :b.");
    EXPECT_EQ(usage_error("SELECT @a", by_name({})),
              "You did not supply a value for binding parameter :a.");
    EXPECT_EQ(usage_error("SELECT $a", by_name({{"b", integer(1)}})),
              "You did not supply a value for binding parameter :a.");
}

TEST_F(SqlRunnerTest, ANamelessPlaceholderWithNamedValuesIsAUsageError) {
    EXPECT_EQ(usage_error("SELECT ?, :a", by_name({{"a", integer(1)}})),
              "Binding 1 has no name, but you supplied a dictionary (which has only names).");
    EXPECT_EQ(usage_error("SELECT :a, ?", by_name({{"a", integer(1)}})),
              "Binding 2 has no name, but you supplied a dictionary (which has only names).");
}

TEST_F(SqlRunnerTest, NoBindingOutlivesItsRun) {
    EXPECT_EQ(run("SELECT ?", by_position({integer(1)})).rows.at(0), (Row{integer(1)}));
    EXPECT_EQ(run("SELECT ?", by_position({"two"s})).rows.at(0), (Row{"two"s}));
    // A run that failed half-way through binding leaves nothing bound for the next one.
    EXPECT_EQ(run("SELECT :a, :b", by_name({{"a", integer(1)}, {"b", integer(2)}})).rows.at(0),
              (Row{integer(1), integer(2)}));
    usage_error("SELECT :a, :b", by_name({{"a", integer(3)}}));
    EXPECT_EQ(usage_error("SELECT :a, :b", by_name({{"b", integer(4)}})),
              "You did not supply a value for binding parameter :a.");
    EXPECT_EQ(run("SELECT :a, :b", by_name({{"a", integer(5)}, {"b", integer(6)}})).rows.at(0),
              (Row{integer(5), integer(6)}));
}

TEST_F(SqlRunnerTest, MoreThanOneStatementIsAUsageErrorAndNoneOfItRuns) {
    run("CREATE TABLE t (x)");
    EXPECT_EQ(usage_error("SELECT 1; SELECT 2"), "You can only execute one statement at a time.");
    EXPECT_EQ(usage_error("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2)"),
              "You can only execute one statement at a time.");
    EXPECT_EQ(usage_error("INSERT INTO t VALUES (1); -- a note\n DELETE FROM t"),
              "You can only execute one statement at a time.");
    EXPECT_EQ(count("t"), 0);
}

TEST_F(SqlRunnerTest, WhiteSpaceAndCommentsAfterTheStatementAreAllowed) {
    for (const char* sql :
         {"SELECT 1;", "SELECT 1  \n\t", "SELECT 1; -- done", "SELECT 1 /* note */;\n",
          "SELECT 1; /* never closed", "SELECT 1; -- one\n/* two */ -- three\n"}) {
        SqlResult result;
        EXPECT_NO_THROW(result = run(sql)) << sql;
        EXPECT_EQ(result.rows, (std::vector<Row>{{integer(1)}})) << sql;
    }
}

TEST_F(SqlRunnerTest, EmptySqlRunsNothing) {
    for (const char* sql : {"", "   \n", "-- only a comment", "/* only a comment */ ;"}) {
        SqlResult result;
        EXPECT_NO_THROW(result = run(sql)) << "'" << sql << "'";
        EXPECT_TRUE(result.columns.empty());
        EXPECT_TRUE(result.rows.empty());
        EXPECT_EQ(result.rowcount, -1);
    }
    EXPECT_EQ(usage_error("", by_position({integer(1)})),
              "Incorrect number of bindings supplied. The current statement uses 0, and there "
              "are 1 supplied.");
}

TEST_F(SqlRunnerTest, ACachedStatementDoesNotDependOnTheTextItWasFirstRunWith) {
    // As the queued calls do: each run brings its own copy of the SQL, gone once it ran.
    auto first = std::make_unique<std::string>("SELECT 1;  -- one statement\n");
    EXPECT_EQ(run(*first).rows.size(), 1u);
    first->assign(first->size(), 'x');
    first.reset();
    const std::string again = "SELECT 1;  -- one statement\n";
    EXPECT_EQ(run(again).rows.size(), 1u);
}

TEST_F(SqlRunnerTest, AResultHasItsColumnsAndEveryRowInOrder) {
    run("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)");
    run("INSERT INTO t (name) VALUES ('a'), ('b'), ('c')");
    const SqlResult result = run("SELECT id, name AS label, id * 10 FROM t ORDER BY id DESC");
    EXPECT_EQ(result.columns, (std::vector<std::string>{"id", "label", "id * 10"}));
    EXPECT_EQ(result.rows, (std::vector<Row>{{integer(3), "c"s, integer(30)},
                                             {integer(2), "b"s, integer(20)},
                                             {integer(1), "a"s, integer(10)}}));
}

TEST_F(SqlRunnerTest, AQueryWithNoRowsStillNamesItsColumns) {
    run("CREATE TABLE t (x, y)");
    const SqlResult result = run("SELECT x, y FROM t");
    EXPECT_EQ(result.columns, (std::vector<std::string>{"x", "y"}));
    EXPECT_TRUE(result.rows.empty());
}

TEST_F(SqlRunnerTest, AStatementThatReturnsNoRowsHasNoColumns) {
    EXPECT_TRUE(run("CREATE TABLE t (x)").columns.empty());
    EXPECT_TRUE(run("INSERT INTO t VALUES (1)").columns.empty());
}

TEST_F(SqlRunnerTest, ColumnsFollowASchemaChangeBetweenRuns) {
    // The statement is cached; the ALTER TABLE makes SQLite prepare it again when it next
    // steps, and the result must describe the table as it is now.
    run("CREATE TABLE t (x)");
    run("INSERT INTO t VALUES (1)");
    const std::string select = "SELECT * FROM t";
    EXPECT_EQ(run(select).columns, (std::vector<std::string>{"x"}));
    run("ALTER TABLE t ADD COLUMN y DEFAULT 'new'");
    const SqlResult widened = run(select);
    EXPECT_EQ(widened.columns, (std::vector<std::string>{"x", "y"}));
    EXPECT_EQ(widened.rows, (std::vector<Row>{{integer(1), "new"s}}));

    run("DROP TABLE t");
    run("CREATE TABLE t (a, b, c)");
    const SqlResult emptied = run(select);
    EXPECT_EQ(emptied.columns, (std::vector<std::string>{"a", "b", "c"}));
    EXPECT_TRUE(emptied.rows.empty());
}

TEST(SqlRunner, ColumnsFollowASchemaChangeMadeByAnotherConnection) {
    asap_native::testing::TempDir dir;
    const std::string path = dir.file("schema.db");
    Connection connection(path, {});
    run_sql(connection, "CREATE TABLE t (x)", {});
    run_sql(connection, "INSERT INTO t VALUES (1)", {});
    const std::string select = "SELECT * FROM t";
    EXPECT_EQ(run_sql(connection, select, {}).columns, (std::vector<std::string>{"x"}));
    asap_native::testing::RawDb(path).exec("ALTER TABLE t ADD COLUMN y DEFAULT 2");
    const SqlResult widened = run_sql(connection, select, {});
    EXPECT_EQ(widened.columns, (std::vector<std::string>{"x", "y"}));
    EXPECT_EQ(widened.rows, (std::vector<Row>{{integer(1), integer(2)}}));
}

TEST_F(SqlRunnerTest, RowcountIsTheChangesOfADmlStatementAndMinusOneOtherwise) {
    EXPECT_EQ(run("CREATE TABLE t (id INTEGER PRIMARY KEY, x)").rowcount, -1);
    EXPECT_EQ(run("INSERT INTO t (x) VALUES (1), (2), (3)").rowcount, 3);
    EXPECT_EQ(run("UPDATE t SET x = x + 1 WHERE x >= 2").rowcount, 2);
    EXPECT_EQ(run("UPDATE t SET x = 0 WHERE x > 100").rowcount, 0);
    EXPECT_EQ(run("REPLACE INTO t (id, x) VALUES (1, 9)").rowcount, 1);
    EXPECT_EQ(run("/* leading comment */ DELETE FROM t WHERE x = 9").rowcount, 1);
    // Not the changes of the DML statement before it.
    EXPECT_EQ(run("SELECT * FROM t").rowcount, -1);
    EXPECT_EQ(run("PRAGMA user_version = 3").rowcount, -1);
    EXPECT_EQ(run("DELETE FROM t").rowcount, 2);
}

TEST_F(SqlRunnerTest, DmlWithReturningGivesItsRowsAndItsRowcount) {
    run("CREATE TABLE t (id INTEGER PRIMARY KEY, x)");
    const SqlResult result =
        run("INSERT INTO t (x) VALUES (?), (?) RETURNING id, x", by_position({"a"s, "b"s}));
    EXPECT_EQ(result.columns, (std::vector<std::string>{"id", "x"}));
    EXPECT_EQ(result.rows, (std::vector<Row>{{integer(1), "a"s}, {integer(2), "b"s}}));
    EXPECT_EQ(result.rowcount, 2);
    EXPECT_EQ(result.lastrowid, 2);
}

TEST_F(SqlRunnerTest, LastrowidIsTheRowidOfTheConnectionsLatestInsert) {
    EXPECT_EQ(run("CREATE TABLE t (id INTEGER PRIMARY KEY, x UNIQUE)").lastrowid, 0);
    EXPECT_EQ(run("INSERT INTO t (id, x) VALUES (41, 'a')").lastrowid, 41);
    EXPECT_EQ(run("INSERT INTO t (x) VALUES ('b')").lastrowid, 42);
    // Statements that insert nothing report the latest insert still, as sqlite3 does.
    EXPECT_EQ(run("SELECT * FROM t").lastrowid, 42);
    EXPECT_EQ(run("UPDATE t SET x = 'c' WHERE id = 41").lastrowid, 42);
    EXPECT_THROW(run("INSERT INTO t (x) VALUES ('b')"), StoreError);
    EXPECT_EQ(run("SELECT 1").lastrowid, 42);
}

TEST_F(SqlRunnerTest, WhatSqliteRefusesIsAStoreErrorAndTheConnectionGoesOn) {
    const StoreError syntax = store_error_from([&] { run("SELEKT 1"); });
    EXPECT_EQ(syntax.sqlite_code(), SQLITE_ERROR);
    EXPECT_NE(std::string(syntax.what()).find("syntax error"), std::string::npos) << syntax.what();

    run("CREATE TABLE t (x UNIQUE)");
    const std::string insert = "INSERT INTO t VALUES (?)";
    run(insert, by_position({integer(1)}));
    const StoreError duplicate = store_error_from([&] { run(insert, by_position({integer(1)})); });
    EXPECT_EQ(duplicate.sqlite_code(), SQLITE_CONSTRAINT_UNIQUE);
    // The failed statement was reset: the same cached statement runs again.
    EXPECT_EQ(run(insert, by_position({integer(2)})).rowcount, 1);
    EXPECT_EQ(count("t"), 2);
}

TEST_F(SqlRunnerTest, AStatementThatFailsAfterSomeRowsCanRunAgain) {
    run("CREATE TABLE t (x)");
    run("INSERT INTO t VALUES (1), (2), (3)");
    // abs() of the smallest integer overflows: the third row fails the query.
    const std::string query = "SELECT CASE WHEN x = 3 THEN abs(?) ELSE x END FROM t ORDER BY x";
    const StoreError overflow = store_error_from(
        [&] { run(query, by_position({integer(std::numeric_limits<std::int64_t>::min())})); });
    EXPECT_NE(std::string(overflow.what()).find("integer overflow"), std::string::npos)
        << overflow.what();
    EXPECT_EQ(run(query, by_position({integer(-7)})).rows,
              (std::vector<Row>{{integer(1)}, {integer(2)}, {integer(7)}}));
}

TEST(RunScript, RunsEveryStatementWithoutParameters) {
    Connection connection(":memory:", {});
    run_script(connection,
               "CREATE TABLE t (x); INSERT INTO t VALUES (1); -- a note\n"
               "INSERT INTO t VALUES (2); /* another */ UPDATE t SET x = x * 10;");
    const SqlResult result = run_sql(connection, "SELECT x FROM t ORDER BY x", {});
    EXPECT_EQ(result.rows, (std::vector<Row>{{integer(10)}, {integer(20)}}));
    EXPECT_NO_THROW(run_script(connection, ""));
    EXPECT_NO_THROW(run_script(connection, "-- nothing"));
}

TEST(RunScript, StopsAtTheFirstFailureKeepingWhatRanBeforeIt) {
    Connection connection(":memory:", {});
    const StoreError error = asap_native::testing::store_error_from([&] {
        run_script(connection,
                   "CREATE TABLE t (x); INSERT INTO t VALUES (1); INSERT INTO missing VALUES (2);"
                   "INSERT INTO t VALUES (3);");
    });
    EXPECT_NE(std::string(error.what()).find("missing"), std::string::npos) << error.what();
    const SqlResult result = run_sql(connection, "SELECT x FROM t", {});
    EXPECT_EQ(result.rows, (std::vector<Row>{{integer(1)}}));
    EXPECT_FALSE(connection.in_transaction());
}

}  // namespace
}  // namespace asap_native::sqlite
