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

TEST(IsDml, TheFourWritingKeywordsInAnyCase) {
    EXPECT_TRUE(is_dml("INSERT INTO t VALUES (1)"));
    EXPECT_TRUE(is_dml("UPDATE t SET x = 1"));
    EXPECT_TRUE(is_dml("DELETE FROM t"));
    EXPECT_TRUE(is_dml("REPLACE INTO t VALUES (1)"));
    EXPECT_TRUE(is_dml("insert into t values (1)"));
    EXPECT_TRUE(is_dml("uPdAtE t SET x = 1"));
    EXPECT_TRUE(is_dml("delete from t"));
    EXPECT_TRUE(is_dml("Replace into t values (1)"));
    // INSERT OR REPLACE, and the bare keyword: only the first keyword is looked at.
    EXPECT_TRUE(is_dml("INSERT OR REPLACE INTO t VALUES (1)"));
    EXPECT_TRUE(is_dml("DELETE"));
}

TEST(IsDml, OtherStatementsAreNot) {
    EXPECT_FALSE(is_dml("SELECT * FROM t"));
    EXPECT_FALSE(is_dml("CREATE TABLE t (x)"));
    EXPECT_FALSE(is_dml("DROP TABLE t"));
    EXPECT_FALSE(is_dml("ALTER TABLE t ADD COLUMN y"));
    EXPECT_FALSE(is_dml("PRAGMA user_version = 1"));
    EXPECT_FALSE(is_dml("BEGIN"));
    EXPECT_FALSE(is_dml("COMMIT"));
    EXPECT_FALSE(is_dml("VACUUM"));
    // A CTE in front hides the keyword from sqlite3 too: it opens no transaction for it.
    EXPECT_FALSE(is_dml("WITH x AS (SELECT 1) INSERT INTO t SELECT * FROM x"));
    // The keyword must come first, not merely appear.
    EXPECT_FALSE(is_dml("SELECT 'INSERT'"));
    EXPECT_FALSE(is_dml("EXPLAIN DELETE FROM t"));
}

TEST(IsDml, TooShortOrEmptyTextIsNot) {
    EXPECT_FALSE(is_dml(""));
    EXPECT_FALSE(is_dml("   \n\t "));
    EXPECT_FALSE(is_dml("INSER"));
    EXPECT_FALSE(is_dml("  UPD"));
    EXPECT_FALSE(is_dml("REPLAC"));
}

TEST(IsDml, LeadingWhiteSpaceIsSkipped) {
    EXPECT_TRUE(is_dml("   INSERT INTO t VALUES (1)"));
    EXPECT_TRUE(is_dml("\n\t\r\fUPDATE t SET x = 1"));
}

TEST(IsDml, LeadingCommentsAreSkipped) {
    EXPECT_TRUE(is_dml("-- a note\nINSERT INTO t VALUES (1)"));
    EXPECT_TRUE(is_dml("/* a note */DELETE FROM t"));
    EXPECT_TRUE(is_dml("/* one */ -- two\n  /* three\n over lines */\n\tUPDATE t SET x = 1"));
    EXPECT_TRUE(is_dml("--\nREPLACE INTO t VALUES (1)"));
    EXPECT_TRUE(is_dml("/**/INSERT INTO t VALUES (1)"));
    // A comment's own text is not the statement.
    EXPECT_FALSE(is_dml("-- INSERT\nSELECT 1"));
    EXPECT_FALSE(is_dml("/* DELETE */ SELECT 1"));
}

TEST(IsDml, TextThatIsOnlyACommentIsNot) {
    EXPECT_FALSE(is_dml("-- INSERT INTO t VALUES (1)"));  // no newline: all comment
    EXPECT_FALSE(is_dml("/* unterminated INSERT INTO t VALUES (1)"));
    EXPECT_FALSE(is_dml("/* done */"));
}

TEST(IsDml, ALoneDashOrSlashStartsNoComment) {
    EXPECT_FALSE(is_dml("- INSERT INTO t VALUES (1)"));
    EXPECT_FALSE(is_dml("/ * */ INSERT INTO t VALUES (1)"));
    EXPECT_FALSE(is_dml("-"));
    EXPECT_FALSE(is_dml("/"));
}

}  // namespace
}  // namespace asap_native
