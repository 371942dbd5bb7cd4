// The library's SQL functions: asap_instant(text) gives the instant of an ISO-8601 timestamp
// (NULL for anything else), may be used where SQLite demands a deterministic and innocuous
// function, and is there on every connection an engine opens.
#include "asap_native/sqlite/functions.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../store_contracts.hpp"
#include "asap_native/sqlite/connection.hpp"
#include "asap_native/sqlite/sql_runner.hpp"
#include "asap_native/sqlite/statement.hpp"
#include "asap_native/sqlite_engine.hpp"

namespace asap_native::sqlite {
namespace {

using asap_native::testing::store_error_from;
using asap_native::testing::TempDir;
using asap_native::testing::utc;

SqlParameters by_position(std::vector<SqlValue> values) {
    SqlParameters parameters;
    parameters.positional = std::move(values);
    return parameters;
}

/// asap_instant(value) on `connection`.
SqlValue instant_of(Connection& connection, const SqlValue& value) {
    return run_sql(connection, "SELECT asap_instant(?)", by_position({value})).rows.at(0).at(0);
}

class AsapInstantTest : public ::testing::Test {
protected:
    void SetUp() override { register_library_functions(connection_); }
    SqlValue instant(const SqlValue& value) { return instant_of(connection_, value); }

    Connection connection_{":memory:", {}};
};

TEST(AsapInstant, IsUnknownToAConnectionWithoutTheLibrarysFunctions) {
    Connection bare(":memory:", {});
    const StoreError error = store_error_from([&] { bare.execute("SELECT asap_instant('x')"); });
    EXPECT_NE(std::string(error.what()).find("no such function: asap_instant"), std::string::npos)
        << error.what();
}

TEST_F(AsapInstantTest, GivesMicrosecondsSinceTheEpoch) {
    EXPECT_EQ(instant(std::string("1970-01-01T00:00:00+00:00")), SqlValue{std::int64_t{0}});
    EXPECT_EQ(instant(std::string("2024-05-01T10:30:45.123456+00:00")),
              SqlValue{utc(2024, 5, 1, 10, 30, 45, 123456)});
    EXPECT_EQ(instant(std::string("1969-12-31T23:59:59")), SqlValue{std::int64_t{-1000000}});
    EXPECT_EQ(instant(std::string("2024-05-01")), SqlValue{utc(2024, 5, 1)});
}

TEST_F(AsapInstantTest, OffsetsDenotingOneInstantGiveOneValue) {
    const SqlValue expected{utc(2024, 5, 1, 8, 30)};
    EXPECT_EQ(instant(std::string("2024-05-01T08:30:00Z")), expected);
    EXPECT_EQ(instant(std::string("2024-05-01T10:30:00+02:00")), expected);
    EXPECT_EQ(instant(std::string("2024-05-01T03:30:00-05:00")), expected);
    EXPECT_EQ(instant(std::string("2024-05-01 08:30:00")), expected);  // naive is UTC
}

TEST_F(AsapInstantTest, IsNullForAnythingButATimestamp) {
    EXPECT_EQ(instant(SqlValue{}), SqlValue{});
    EXPECT_EQ(instant(std::string("")), SqlValue{});
    EXPECT_EQ(instant(std::string("yesterday")), SqlValue{});
    EXPECT_EQ(instant(std::string("2024-13-01T00:00:00")), SqlValue{});
    EXPECT_EQ(instant(std::string("2024-05-01T10:30:00+00:00 trailing")), SqlValue{});
    // The text's full length counts: a NUL cuts nothing off.
    EXPECT_EQ(instant(std::string("2024-05-01\0garbage", 18)), SqlValue{});
    // Numbers are read as their text, which is no timestamp.
    EXPECT_EQ(instant(std::int64_t{1714559400}), SqlValue{});
    EXPECT_EQ(instant(1.5), SqlValue{});
}

TEST_F(AsapInstantTest, ABlobHoldingTimestampTextIsReadAsThatText) {
    EXPECT_EQ(instant(SqlBlob{"2024-05-01T08:30:00Z"}), SqlValue{utc(2024, 5, 1, 8, 30)});
    EXPECT_EQ(instant(SqlBlob{}), SqlValue{});
}

TEST_F(AsapInstantTest, TakesExactlyOneArgument) {
    EXPECT_THROW(connection_.execute("SELECT asap_instant()"), StoreError);
    EXPECT_THROW(connection_.execute("SELECT asap_instant('a', 'b')"), StoreError);
}

TEST_F(AsapInstantTest, OrdersTimestampsByInstantNotByText) {
    connection_.execute(
        "CREATE TABLE events (name TEXT, at TEXT);"
        "INSERT INTO events VALUES ('second', '2024-05-01T10:00:00+02:00'),"              // 08:00Z
        "  ('third', '2024-05-01T09:00:00Z'), ('first', '2024-05-01T03:00:00-04:00');");  // 07:00Z
    const SqlResult result =
        run_sql(connection_, "SELECT name FROM events ORDER BY asap_instant(at)", {});
    EXPECT_EQ(result.rows,
              (std::vector<std::vector<SqlValue>>{
                  {std::string("first")}, {std::string("second")}, {std::string("third")}}));
}

TEST_F(AsapInstantTest, IsDeterministicSoIndexesAndGeneratedColumnsMayUseIt) {
    // SQLite refuses non-deterministic functions in both.
    connection_.execute(
        "CREATE TABLE events (at TEXT, instant INTEGER GENERATED ALWAYS AS (asap_instant(at)));"
        "CREATE INDEX events_by_instant ON events (asap_instant(at));"
        "INSERT INTO events (at) VALUES ('2024-05-01T10:00:00+02:00');");
    const SqlResult result =
        run_sql(connection_, "SELECT instant FROM events WHERE asap_instant(at) = ?",
                by_position({utc(2024, 5, 1, 8)}));
    EXPECT_EQ(result.rows, (std::vector<std::vector<SqlValue>>{{utc(2024, 5, 1, 8)}}));
}

TEST_F(AsapInstantTest, IsInnocuousSoAnUntrustedSchemaMayUseIt) {
    // With trusted_schema off, views and triggers may call only innocuous functions.
    connection_.execute(
        "PRAGMA trusted_schema = OFF;"
        "CREATE TABLE events (at TEXT);"
        "CREATE VIEW instants AS SELECT asap_instant(at) AS instant FROM events;"
        "INSERT INTO events VALUES ('1970-01-01T00:00:01Z');");
    const SqlResult result = run_sql(connection_, "SELECT instant FROM instants", {});
    EXPECT_EQ(result.rows, (std::vector<std::vector<SqlValue>>{{std::int64_t{1000000}}}));
}

TEST(AsapInstantOnEngines, EveryConnectionOfAnEngineHasIt) {
    TempDir dir;
    const auto engine = open_sqlite_engine(dir.file("functions.db"));
    const SqlValue epoch_plus_one{std::int64_t{1000000}};
    const std::string text = "1970-01-01T00:00:01Z";
    engine->database().with_writer(
        [&](Connection& writer) { EXPECT_EQ(instant_of(writer, text), epoch_plus_one); });
    // Two readers leased at once are two connections, each opened with the function.
    engine->database().with_reader([&](Connection& first) {
        engine->database().with_reader([&](Connection& second) {
            EXPECT_NE(&first, &second);
            EXPECT_EQ(instant_of(first, text), epoch_plus_one);
            EXPECT_EQ(instant_of(second, text), epoch_plus_one);
        });
    });
    engine->close();
}

TEST(AsapInstantOnEngines, AnInMemoryEngineHasIt) {
    const auto engine = open_sqlite_engine(":memory:");
    engine->database().with_reader([&](Connection& connection) {
        EXPECT_EQ(instant_of(connection, std::string("1970-01-01T00:00:00Z")),
                  SqlValue{std::int64_t{0}});
    });
}

}  // namespace
}  // namespace asap_native::sqlite
