// SQL as data: the value types SQLite stores, parameters, results, and is_dml deciding, as
// Python's sqlite3 decides, which statements open an implicit transaction.
#include "asap_native/sql.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <variant>

namespace asap_native {
namespace {

using namespace std::string_literals;

TEST(SqlValue, HoldsEachOfSqlitesStorageClasses) {
    EXPECT_TRUE(std::holds_alternative<std::monostate>(SqlValue{}));  // NULL by default
    EXPECT_TRUE(
        std::holds_alternative<std::int64_t>(SqlValue{std::numeric_limits<std::int64_t>::min()}));
    EXPECT_TRUE(std::holds_alternative<double>(SqlValue{0.5}));
    EXPECT_TRUE(std::holds_alternative<std::string>(SqlValue{"text"s}));
    EXPECT_TRUE(std::holds_alternative<SqlBlob>(SqlValue{SqlBlob{"bytes"}}));
}

TEST(SqlValue, TextAndBlobWithTheSameBytesAreDifferentValues) {
    const SqlValue text = "a\0b"s;
    const SqlValue blob = SqlBlob{"a\0b"s};
    // (SqlBlob has no operator!=, so std::variant's != does not compile: == it is.)
    EXPECT_FALSE(text == blob);
    EXPECT_TRUE(blob == SqlValue(SqlBlob{"a\0b"s}));
    EXPECT_FALSE(blob == SqlValue(SqlBlob{"a"}));  // the bytes after a NUL count
    EXPECT_EQ(std::get<SqlBlob>(blob).bytes.size(), 3u);
}

TEST(SqlValue, IntegerAndRealWithTheSameValueAreDifferentValues) {
    EXPECT_FALSE(SqlValue{std::int64_t{1}} == SqlValue{1.0});
}

TEST(SqlParameters, AreByPositionUnlessSaidOtherwise) {
    const SqlParameters parameters;
    EXPECT_FALSE(parameters.by_name);
    EXPECT_TRUE(parameters.positional.empty());
    EXPECT_TRUE(parameters.named.empty());
}

TEST(SqlResult, StartsAsAStatementThatChangedNothing) {
    const SqlResult result;
    EXPECT_TRUE(result.columns.empty());
    EXPECT_TRUE(result.rows.empty());
    EXPECT_EQ(result.rowcount, -1);  // sqlite3's rowcount for anything but DML
    EXPECT_EQ(result.lastrowid, 0);
}

// is_dml over tables of statements, one suite per answer, one instantiation per reason.
class IsDml : public ::testing::TestWithParam<const char*> {};
class IsNotDml : public ::testing::TestWithParam<const char*> {};

TEST_P(IsDml, OpensAnImplicitTransaction) { EXPECT_TRUE(is_dml(GetParam())); }
TEST_P(IsNotDml, OpensNoImplicitTransaction) { EXPECT_FALSE(is_dml(GetParam())); }

INSTANTIATE_TEST_SUITE_P(
    TheFourWritingKeywordsInAnyCase, IsDml,
    ::testing::Values("INSERT INTO t VALUES (1)", "UPDATE t SET x = 1", "DELETE FROM t",
                      "REPLACE INTO t VALUES (1)", "insert into t values (1)", "uPdAtE t SET x = 1",
                      "delete from t", "Replace into t values (1)",
                      // INSERT OR REPLACE, and the bare keyword: only the first keyword counts.
                      "INSERT OR REPLACE INTO t VALUES (1)", "DELETE"));

INSTANTIATE_TEST_SUITE_P(OtherStatements, IsNotDml,
                         ::testing::Values("SELECT * FROM t", "CREATE TABLE t (x)", "DROP TABLE t",
                                           "ALTER TABLE t ADD COLUMN y", "PRAGMA user_version = 1",
                                           "BEGIN", "COMMIT", "VACUUM",
                                           // A CTE in front hides the keyword from sqlite3 too:
                                           // it opens no transaction for it.
                                           "WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x",
                                           // The keyword must come first, not merely appear.
                                           "SELECT 'INSERT'", "EXPLAIN DELETE FROM t"));

INSTANTIATE_TEST_SUITE_P(TooShortOrEmptyText, IsNotDml,
                         ::testing::Values("", "   \n\t ", "INSER", "  UPD", "REPLAC"));

INSTANTIATE_TEST_SUITE_P(LeadingWhiteSpaceIsSkipped, IsDml,
                         ::testing::Values("   INSERT INTO t VALUES (1)",
                                           "\n\t\r\fUPDATE t SET x = 1"));

INSTANTIATE_TEST_SUITE_P(
    LeadingCommentsAreSkipped, IsDml,
    ::testing::Values("-- a note\nINSERT INTO t VALUES (1)", "/* a note */DELETE FROM t",
                      "/* one */ -- two\n  /* three\n over lines */\n\tUPDATE t SET x = 1",
                      "--\nREPLACE INTO t VALUES (1)", "/**/INSERT INTO t VALUES (1)"));

INSTANTIATE_TEST_SUITE_P(ACommentsOwnTextIsNotTheStatement, IsNotDml,
                         ::testing::Values("-- INSERT\nSELECT 1", "/* DELETE */ SELECT 1"));

INSTANTIATE_TEST_SUITE_P(
    TextThatIsOnlyAComment, IsNotDml,
    ::testing::Values("-- INSERT INTO t VALUES (1)",  // no newline: all comment
                      "/* unterminated INSERT INTO t VALUES (1)", "/* done */"));

INSTANTIATE_TEST_SUITE_P(ALoneDashOrSlashStartsNoComment, IsNotDml,
                         ::testing::Values("- INSERT INTO t VALUES (1)",
                                           "/ * */ INSERT INTO t VALUES (1)", "-", "/"));

}  // namespace
}  // namespace asap_native
