// SqliteRepository and SqlSession: SQL from outside the library on the store engine. Writes
// now and queued (group-committed, a failing one failing alone, completed once committed),
// statements and scripts that run alone in autocommit mode, queries on readers, sessions that
// hold the writer connection (BEGIN IMMEDIATE, their own writes, COMMIT, ROLLBACK, failures),
// the errors each path reports, ":memory:", and closing with work queued.
#include "asap_native/sqlite_repository.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "asap_native/errors.hpp"
#include "store_contracts.hpp"

namespace asap_native::testing {
namespace {

using namespace std::string_literals;
using Row = std::vector<SqlValue>;
using sqlite::ConnectionOptions;

constexpr const char* kSchema = "CREATE TABLE t (id INTEGER PRIMARY KEY, x UNIQUE)";

/// The StoreError held in `error` (a test failure when it holds none, or something else).
StoreError store_error_in(const std::exception_ptr& error) {
    return store_error_from([&] {
        if (error) std::rethrow_exception(error);
    });
}

/// True when `error` holds a SqlUsageError.
bool is_usage_error(const std::exception_ptr& error) {
    try {
        if (error) std::rethrow_exception(error);
    } catch (const SqlUsageError&) {
        return true;
    } catch (...) {
    }
    return false;
}

ConnectionOptions no_busy_wait() {
    ConnectionOptions options;
    options.busy_timeout = std::chrono::milliseconds(0);
    return options;
}

QueuedOutcome<SqlResult> execute_queued(SqliteRepository& repository, const std::string& sql,
                                        SqlParameters parameters = {}) {
    return call_queued<SqlResult>(repository, &SqliteRepository::execute_queued, sql,
                                  std::move(parameters));
}

QueuedOutcome<SqlResult> fetch_queued(SqliteRepository& repository, const std::string& sql,
                                      SqlParameters parameters = {}) {
    return call_queued<SqlResult>(repository, &SqliteRepository::fetch_queued, sql,
                                  std::move(parameters));
}

QueuedOutcome<Nothing> script_queued(SqliteRepository& repository, const std::string& script) {
    return call_queued<Nothing>(repository, &SqliteRepository::script_queued, script);
}

QueuedOutcome<SqlResult> run_in(SqlSession& session, const std::string& sql,
                                SqlParameters parameters = {}) {
    return call_queued<SqlResult>(session, &SqlSession::run_queued, sql, std::move(parameters));
}

QueuedOutcome<Nothing> script_in(SqlSession& session, const std::string& script) {
    return call_queued<Nothing>(session, &SqlSession::script_queued, script);
}

QueuedOutcome<Nothing> end(SqlSession& session, bool commit) {
    return call_queued<Nothing>(session, &SqlSession::end_queued, commit);
}

/// Fails the test when `outcome` holds an error; else its result.
template <typename Result>
const Result& succeeded(const QueuedOutcome<Result>& outcome) {
    EXPECT_FALSE(outcome.error()) << message_of(outcome.error());
    return outcome.result();
}

class SqliteRepositoryTest : public ::testing::Test {
protected:
    SqliteRepositoryTest() { repository_.execute(kSchema, {}); }

    /// The x of every committed row of t, by id, as another connection sees them.
    std::vector<std::int64_t> committed() {
        RawDb raw(path_);
        std::vector<std::int64_t> out;
        sqlite3_stmt* statement = nullptr;
        sqlite3_prepare_v2(raw.handle(), "SELECT x FROM t ORDER BY id", -1, &statement, nullptr);
        while (sqlite3_step(statement) == SQLITE_ROW)
            out.push_back(sqlite3_column_int64(statement, 0));
        sqlite3_finalize(statement);
        return out;
    }
    /// A session that the writer thread is serving (its first command ran).
    std::shared_ptr<SqlSession> serving_session(const std::string& begin) {
        auto session = repository_.open_session(begin);
        succeeded(run_in(*session, "SELECT 1"));
        return session;
    }
    static std::string insert(std::int64_t x) {
        return "INSERT INTO t (x) VALUES (" + std::to_string(x) + ")";
    }
    bool writer_in_transaction() {
        return repository_.engine()->database().with_writer(
            [](sqlite::Connection& c) { return c.in_transaction(); });
    }

    TempDir dir_;
    std::string path_ = dir_.file("repository.db");
    SqliteRepository repository_{path_};
};

// ---- writes and queries run now ----------------------------------------------------------

TEST_F(SqliteRepositoryTest, ExecuteCommitsAStatementOnItsOwn) {
    const SqlResult result =
        repository_.execute("INSERT INTO t (x) VALUES (?)", by_position({integer(5)}));
    EXPECT_EQ(result.rowcount, 1);
    EXPECT_EQ(result.lastrowid, 1);
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{5}));
    EXPECT_FALSE(writer_in_transaction());
}

TEST_F(SqliteRepositoryTest, ExecuteCommitsWhatAStatementLeftOpen) {
    // As asap's execute() commits after every statement, a BEGIN is committed at once.
    EXPECT_EQ(repository_.execute("BEGIN", {}).rowcount, -1);
    EXPECT_FALSE(writer_in_transaction());
    repository_.execute("VACUUM", {});  // refused inside a transaction
}

TEST_F(SqliteRepositoryTest, FetchReadsWhatIsCommitted) {
    repository_.execute(insert(1), {});
    const SqlResult result =
        repository_.fetch("SELECT id, x FROM t WHERE x = :x", by_name({{"x", integer(1)}}));
    EXPECT_EQ(result.columns, (std::vector<std::string>{"id", "x"}));
    EXPECT_EQ(result.rows, (std::vector<Row>{{integer(1), integer(1)}}));
    EXPECT_EQ(result.rowcount, -1);
}

TEST_F(SqliteRepositoryTest, AFetchThatChangesRowsGivesThemButKeepsNoChange) {
    repository_.execute(insert(1), {});
    repository_.execute(insert(2), {});
    const SqlResult now = repository_.fetch("DELETE FROM t WHERE x = 1 RETURNING x", {});
    EXPECT_EQ(now.rows, (std::vector<Row>{{integer(1)}}));
    const SqlResult queued = succeeded(fetch_queued(repository_, "DELETE FROM t RETURNING x"));
    EXPECT_EQ(queued.rows.size(), 2u);
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{1, 2}));
}

TEST_F(SqliteRepositoryTest, AFetchLeavesNoTransactionOpenOnItsReader) {
    // A reader left inside a transaction would read the same old snapshot from then on.
    succeeded(fetch_queued(repository_, "BEGIN"));
    repository_.fetch("BEGIN", {});
    const std::string count = "SELECT count(*) FROM t";
    EXPECT_EQ(succeeded(fetch_queued(repository_, count)).rows, (std::vector<Row>{{integer(0)}}));
    EXPECT_EQ(repository_.fetch(count, {}).rows, (std::vector<Row>{{integer(0)}}));
    repository_.execute(insert(7), {});
    EXPECT_EQ(succeeded(fetch_queued(repository_, count)).rows, (std::vector<Row>{{integer(1)}}));
    EXPECT_EQ(repository_.fetch(count, {}).rows, (std::vector<Row>{{integer(1)}}));
}

// ---- values ------------------------------------------------------------------------------

TEST_F(SqliteRepositoryTest, EachValueKindIsBoundAndReadBackThroughTheQueuedCalls) {
    repository_.execute("CREATE TABLE v (n, i, r, s, b)", {});
    const Row values = {std::monostate{}, integer(std::numeric_limits<std::int64_t>::min()), -0.5,
                        "t\0xt \xc3\xa9"s, SqlBlob{"\x00\xff"s}};
    succeeded(
        execute_queued(repository_, "INSERT INTO v VALUES (?, ?, ?, ?, ?)", by_position(values)));
    succeeded(execute_queued(repository_, "INSERT INTO v VALUES (:n, :i, @r, $s, :b)",
                             by_name({{"n", values[0]},
                                      {"i", values[1]},
                                      {"r", values[2]},
                                      {"s", values[3]},
                                      {"b", values[4]}})));
    const SqlResult read = succeeded(fetch_queued(repository_, "SELECT * FROM v"));
    EXPECT_EQ(read.rows, (std::vector<Row>{values, values}));
    const SqlResult types = succeeded(fetch_queued(
        repository_,
        "SELECT typeof(n), typeof(i), typeof(r), typeof(s), typeof(b) FROM v LIMIT 1"));
    EXPECT_EQ(types.rows, (std::vector<Row>{{"null"s, "integer"s, "real"s, "text"s, "blob"s}}));
}

// ---- queued writes -----------------------------------------------------------------------

TEST_F(SqliteRepositoryTest, ConcurrentWritesAreGroupCommittedAndAFailingOneFailsAlone) {
    // One write of thread 2 repeats a value committed before: UNIQUE fails it, whatever order
    // the threads queue in.
    constexpr std::int64_t kTaken = 1000;
    repository_.execute(insert(kTaken), {});
    const StoreFigures before = repository_.stats();
    auto holder = serving_session("");  // keeps the writer thread busy while writes queue
    constexpr int kThreads = 4;
    constexpr int kPerThread = 5;
    std::vector<QueuedOutcome<SqlResult>> outcomes(kThreads * kPerThread);
    run_threads(kThreads, [&](int thread) {
        for (int i = 0; i < kPerThread; ++i) {
            const int index = thread * kPerThread + i;
            const std::int64_t x = thread == 2 && i == 3 ? kTaken : index;
            outcomes[static_cast<std::size_t>(index)] = execute_queued(repository_, insert(x));
        }
    });
    for (const auto& outcome : outcomes) EXPECT_FALSE(outcome.arrived());
    succeeded(end(*holder, true));
    for (std::size_t i = 0; i < outcomes.size(); ++i) {
        if (i == 2 * kPerThread + 3) {
            const StoreError error = store_error_in(outcomes[i].error());
            EXPECT_EQ(error.sqlite_code(), SQLITE_CONSTRAINT_UNIQUE);
            EXPECT_EQ(outcomes[i].result().rowcount, -1);  // no result, whatever it computed
        } else {
            EXPECT_EQ(succeeded(outcomes[i]).rowcount, 1) << i;
        }
    }
    EXPECT_EQ(committed().size(), outcomes.size());  // all but the failed one, and kTaken
    const StoreFigures after = repository_.stats();
    EXPECT_EQ(after.batches - before.batches, 1u);
    EXPECT_EQ(after.batched_writes - before.batched_writes, outcomes.size());
}

TEST_F(SqliteRepositoryTest, AQueuedWriteCompletesOnlyOnceCommitted) {
    QueuedOutcome<std::int64_t> seen;
    const Done<std::int64_t> hand_over = seen.done();
    repository_.execute_queued(insert(1), {}, [&, hand_over](SqlResult, std::exception_ptr error) {
        // Another connection sees it from inside the callback.
        hand_over(RawDb(path_).integer("SELECT count(*) FROM t"), error);
    });
    EXPECT_EQ(succeeded(seen), 1);
}

TEST_F(SqliteRepositoryTest, QueuedStatementsOtherThanDmlRunAloneInAutocommitMode) {
    succeeded(execute_queued(repository_, "CREATE TABLE u (y)"));
    succeeded(execute_queued(repository_, "VACUUM"));  // refused inside a transaction
    // A BEGIN is committed at once: the writes queued after it are group-committed as usual.
    succeeded(execute_queued(repository_, "BEGIN"));
    EXPECT_EQ(succeeded(execute_queued(repository_, insert(3))).rowcount, 1);
    EXPECT_FALSE(writer_in_transaction());
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{3}));
}

TEST_F(SqliteRepositoryTest, AScriptRunsInAutocommitModeAndWhatItLeavesOpenIsCommitted) {
    succeeded(script_queued(
        repository_, insert(1) + "; BEGIN; " + insert(2) + "; COMMIT; " + "BEGIN; " + insert(3)));
    EXPECT_FALSE(writer_in_transaction());
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{1, 2, 3}));
}

TEST_F(SqliteRepositoryTest, AFailingScriptKeepsWhatItCommittedAndLeavesTheWriterClean) {
    // As closing asap's connection after a failed executescript: what its own transaction
    // held is lost, what ran in autocommit mode stays.
    const auto failed =
        script_queued(repository_, insert(1) + "; BEGIN; " + insert(2) + "; SELEKT 1");
    EXPECT_EQ(store_error_in(failed.error()).sqlite_code(), SQLITE_ERROR);
    EXPECT_FALSE(writer_in_transaction());
    EXPECT_EQ(succeeded(execute_queued(repository_, insert(3))).rowcount, 1);
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{1, 3}));
}

// ---- sessions ----------------------------------------------------------------------------

TEST_F(SqliteRepositoryTest, ABeginImmediateSessionHoldsTheWriteLockUntilItEnds) {
    auto session = repository_.open_session("BEGIN IMMEDIATE");
    EXPECT_EQ(succeeded(run_in(*session, insert(1))).rowcount, 1);
    EXPECT_TRUE(session->in_transaction());
    // Another connection, here or in another process, cannot write meanwhile.
    RawDb other(path_, 0);
    EXPECT_THROW(other.exec("BEGIN IMMEDIATE"), std::runtime_error);
    SqliteRepository elsewhere(path_, no_busy_wait());
    EXPECT_EQ(store_error_from([&] { elsewhere.execute(insert(2), {}); }).kind(),
              StoreErrorKind::Busy);
    succeeded(end(*session, true));
    EXPECT_FALSE(session->in_transaction());
    other.exec("BEGIN IMMEDIATE");
    other.exec("ROLLBACK");
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{1}));
}

TEST_F(SqliteRepositoryTest, ASessionSeesItsOwnWritesAndReadersOnlyWhatIsCommitted) {
    auto session = repository_.open_session("BEGIN IMMEDIATE");
    succeeded(run_in(*session, insert(1)));
    EXPECT_EQ(succeeded(run_in(*session, "SELECT x FROM t")).rows,
              (std::vector<Row>{{integer(1)}}));
    // Readers are not blocked by the session, and do not see what it has not committed.
    EXPECT_TRUE(repository_.fetch("SELECT x FROM t", {}).rows.empty());
    EXPECT_TRUE(succeeded(fetch_queued(repository_, "SELECT x FROM t")).rows.empty());
    succeeded(end(*session, true));
    EXPECT_EQ(repository_.fetch("SELECT x FROM t", {}).rows, (std::vector<Row>{{integer(1)}}));
}

TEST_F(SqliteRepositoryTest, WritesQueuedDuringASessionWaitAndRunAfterIt) {
    auto session = repository_.open_session("BEGIN IMMEDIATE");
    succeeded(run_in(*session, insert(1)));
    auto queued_write = execute_queued(repository_, insert(2));
    auto queued_script = script_queued(repository_, insert(3));
    succeeded(run_in(*session, insert(4)));  // the session goes on; they are still waiting
    EXPECT_FALSE(queued_write.arrived());
    EXPECT_FALSE(queued_script.arrived());
    succeeded(end(*session, true));
    succeeded(queued_write);
    succeeded(queued_script);
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{1, 4, 2, 3}));
}

TEST_F(SqliteRepositoryTest, EndingWithoutCommitRollsBackAndWithCommitKeeps) {
    auto discarded = repository_.open_session("BEGIN IMMEDIATE");
    succeeded(run_in(*discarded, insert(1)));
    succeeded(end(*discarded, false));
    auto kept = repository_.open_session("BEGIN IMMEDIATE");
    succeeded(run_in(*kept, insert(2)));
    succeeded(end(*kept, true));
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{2}));
    EXPECT_FALSE(writer_in_transaction());
}

TEST_F(SqliteRepositoryTest, AFailingStatementFailsAloneAndARollbackUndoesTheRest) {
    // asap's transaction(): a statement fails, the block raises, ROLLBACK undoes all of it.
    auto session = repository_.open_session("BEGIN IMMEDIATE");
    succeeded(run_in(*session, insert(1)));
    const auto duplicate = run_in(*session, insert(1));
    EXPECT_EQ(store_error_in(duplicate.error()).sqlite_code(), SQLITE_CONSTRAINT_UNIQUE);
    EXPECT_TRUE(session->in_transaction());  // SQLite undid the statement, not the transaction
    EXPECT_EQ(succeeded(run_in(*session, "SELECT count(*) FROM t")).rows,
              (std::vector<Row>{{integer(1)}}));
    succeeded(end(*session, false));
    EXPECT_TRUE(committed().empty());
    EXPECT_FALSE(writer_in_transaction());
}

TEST_F(SqliteRepositoryTest, ASessionWithoutBeginRunsEachStatementInAutocommitMode) {
    auto session = repository_.open_session("");
    succeeded(run_in(*session, insert(1)));
    EXPECT_FALSE(session->in_transaction());
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{1}));  // before the session ends
    succeeded(run_in(*session, "BEGIN"));
    succeeded(run_in(*session, insert(2)));
    EXPECT_TRUE(session->in_transaction());
    succeeded(run_in(*session, "COMMIT"));
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{1, 2}));
    succeeded(end(*session, false));
}

TEST_F(SqliteRepositoryTest, AScriptInASessionCommitsWhatIsPendingFirst) {
    auto session = repository_.open_session("BEGIN IMMEDIATE");
    succeeded(run_in(*session, insert(1)));
    succeeded(script_in(*session, "BEGIN; " + insert(2)));
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{1}));
    EXPECT_TRUE(session->in_transaction());
    succeeded(end(*session, false));
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{1}));
}

TEST_F(SqliteRepositoryTest, ABeginThatFailsFailsEveryCommandWithItsErrorOnce) {
    auto session = repository_.open_session("BEGIN NONSENSE");
    const auto statement = run_in(*session, insert(1));
    const auto script = script_in(*session, insert(2));
    EXPECT_EQ(store_error_in(statement.error()).sqlite_code(), SQLITE_ERROR);
    EXPECT_EQ(store_error_in(script.error()).sqlite_code(), SQLITE_ERROR);
    EXPECT_FALSE(end(*session, true).error());  // its callers already know
    EXPECT_FALSE(session->in_transaction());

    // A caller that only began and ended learns of it when ending.
    auto only_ended = repository_.open_session("BEGIN NONSENSE");
    EXPECT_EQ(store_error_in(end(*only_ended, true).error()).sqlite_code(), SQLITE_ERROR);
    EXPECT_TRUE(committed().empty());
    EXPECT_EQ(succeeded(execute_queued(repository_, insert(3))).rowcount, 1);
}

TEST_F(SqliteRepositoryTest, ABeginThatFindsTheDatabaseLockedFailsAsBusy) {
    SqliteRepository impatient(path_, no_busy_wait());
    RawDb other(path_);
    other.exec("BEGIN IMMEDIATE");
    auto session = impatient.open_session("BEGIN IMMEDIATE");
    const StoreError busy = store_error_in(run_in(*session, insert(1)).error());
    EXPECT_EQ(busy.kind(), StoreErrorKind::Busy);
    EXPECT_EQ(busy.sqlite_code() & 0xff, SQLITE_BUSY);
    other.exec("ROLLBACK");
    auto again = impatient.open_session("BEGIN IMMEDIATE");
    succeeded(run_in(*again, insert(1)));
    succeeded(end(*again, true));
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{1}));
}

TEST_F(SqliteRepositoryTest, ACommitThatFailsIsRolledBackAndReported) {
    // A deferred foreign key is checked at COMMIT: the one statement that can fail there.
    repository_.execute("PRAGMA foreign_keys = ON", {});
    repository_.execute(
        "CREATE TABLE child (parent REFERENCES t (id) DEFERRABLE INITIALLY DEFERRED)", {});
    auto session = repository_.open_session("BEGIN IMMEDIATE");
    succeeded(run_in(*session, insert(1)));
    succeeded(run_in(*session, "INSERT INTO child VALUES (99)"));
    const StoreError refused = store_error_in(end(*session, true).error());
    EXPECT_EQ(refused.sqlite_code(), SQLITE_CONSTRAINT_FOREIGNKEY);
    EXPECT_FALSE(session->in_transaction());
    EXPECT_FALSE(writer_in_transaction());
    EXPECT_TRUE(committed().empty());
    EXPECT_EQ(succeeded(execute_queued(repository_, insert(2))).rowcount, 1);
}

TEST_F(SqliteRepositoryTest, CommandsAfterTheEndAreRefused) {
    auto session = repository_.open_session("BEGIN IMMEDIATE");
    succeeded(run_in(*session, insert(1)));
    succeeded(end(*session, true));
    EXPECT_EQ(store_error_in(run_in(*session, insert(2)).error()).kind(), StoreErrorKind::Closed);
    EXPECT_EQ(store_error_in(script_in(*session, insert(2)).error()).kind(),
              StoreErrorKind::Closed);
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{1}));
}

TEST_F(SqliteRepositoryTest, EndingAnEndedSessionDoesNothing) {
    auto session = repository_.open_session("BEGIN IMMEDIATE");
    succeeded(run_in(*session, insert(1)));
    succeeded(end(*session, true));
    EXPECT_FALSE(end(*session, false).error());
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{1}));
}

TEST_F(SqliteRepositoryTest, AbandoningASessionRollsBackAndGivesTheWriterBack) {
    auto session = repository_.open_session("BEGIN IMMEDIATE");
    succeeded(run_in(*session, insert(1)));
    auto waiting = execute_queued(repository_, insert(2));
    session->abandon();
    succeeded(waiting);
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{2}));
    session->abandon();  // once ended, nothing more
}

// ---- errors ------------------------------------------------------------------------------

/// The error `call` throws, or null.
template <typename Call>
std::exception_ptr error_thrown_by(Call&& call) {
    try {
        call();
    } catch (...) {
        return std::current_exception();
    }
    return nullptr;
}

TEST_F(SqliteRepositoryTest, EachPathReportsConstraintAndSyntaxErrorsWithSqlitesCode) {
    repository_.execute(insert(1), {});
    repository_.execute("CREATE TABLE c (v NOT NULL CHECK (v > 0))", {});
    const std::vector<std::pair<std::string, int>> failures = {
        {insert(1), SQLITE_CONSTRAINT_UNIQUE},
        {"INSERT INTO c VALUES (NULL)", SQLITE_CONSTRAINT_NOTNULL},
        {"INSERT INTO c VALUES (-1)", SQLITE_CONSTRAINT_CHECK},
        {"INSERT INTO missing VALUES (1)", SQLITE_ERROR},
        {"SELEKT 1", SQLITE_ERROR},
    };
    std::vector<std::pair<std::string, std::exception_ptr>> errors;  // the SQL, what it gave
    for (const auto& failure : failures) {
        const std::string& sql = failure.first;
        errors.emplace_back(sql, execute_queued(repository_, sql).error());
        errors.emplace_back(sql, error_thrown_by([&] { repository_.execute(sql, {}); }));
        errors.emplace_back(sql, fetch_queued(repository_, sql).error());
        errors.emplace_back(sql, error_thrown_by([&] { repository_.fetch(sql, {}); }));
    }
    auto session = repository_.open_session("BEGIN IMMEDIATE");
    for (const auto& failure : failures)
        errors.emplace_back(failure.first, run_in(*session, failure.first).error());
    succeeded(end(*session, true));
    ASSERT_EQ(errors.size(), 5 * failures.size());
    for (std::size_t i = 0; i < errors.size(); ++i) {
        const int code = i < 4 * failures.size() ? failures[i / 4].second
                                                 : failures[i - 4 * failures.size()].second;
        const StoreError error = store_error_in(errors[i].second);
        EXPECT_EQ(error.sqlite_code(), code) << errors[i].first << ": " << error.what();
        EXPECT_EQ(error.kind(), StoreErrorKind::Other) << errors[i].first;
    }
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{1}));
}

TEST_F(SqliteRepositoryTest, EachPathReportsSqlThatCannotRunAsGivenAsAUsageError) {
    for (const std::string& sql :
         std::vector<std::string>{"SELECT 1; SELECT 2", "SELECT ?", insert(5) + "; " + insert(6)}) {
        EXPECT_TRUE(is_usage_error(execute_queued(repository_, sql).error())) << sql;
        EXPECT_THROW(repository_.execute(sql, {}), SqlUsageError) << sql;
        EXPECT_TRUE(is_usage_error(fetch_queued(repository_, sql).error())) << sql;
        EXPECT_THROW(repository_.fetch(sql, {}), SqlUsageError) << sql;
        auto session = repository_.open_session("BEGIN IMMEDIATE");
        EXPECT_TRUE(is_usage_error(run_in(*session, sql).error())) << sql;
        succeeded(end(*session, true));
    }
    EXPECT_TRUE(committed().empty());
}

TEST_F(SqliteRepositoryTest, AQueuedWriteThatFindsTheDatabaseLockedFailsAsBusy) {
    SqliteRepository impatient(path_, no_busy_wait());
    RawDb other(path_);
    other.exec("BEGIN IMMEDIATE");
    const StoreError busy = store_error_in(execute_queued(impatient, insert(1)).error());
    EXPECT_EQ(busy.kind(), StoreErrorKind::Busy);
    // Readers go on: WAL lets them read beside the other connection's write lock.
    EXPECT_EQ(succeeded(fetch_queued(impatient, "SELECT count(*) FROM t")).rows,
              (std::vector<Row>{{integer(0)}}));
    other.exec("ROLLBACK");
    EXPECT_EQ(succeeded(execute_queued(impatient, insert(1))).rowcount, 1);
}

// ---- closing -----------------------------------------------------------------------------

TEST_F(SqliteRepositoryTest, CloseEndsOpenSessionsAndRunsTheWorkQueuedBehindThem) {
    auto session = repository_.open_session("BEGIN IMMEDIATE");
    succeeded(run_in(*session, insert(1)));
    auto queued_write = execute_queued(repository_, insert(2));
    auto queued_script = script_queued(repository_, insert(3));
    repository_.close();  // returns: nothing is left waiting for the session's owner
    EXPECT_TRUE(repository_.is_closed());
    succeeded(queued_write);
    succeeded(queued_script);
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{2, 3}));  // the session's write is lost
    // Its owner learns that it is over: a commit did not happen.
    EXPECT_EQ(store_error_in(end(*session, true).error()).kind(), StoreErrorKind::Closed);
    EXPECT_EQ(store_error_in(run_in(*session, insert(4)).error()).kind(), StoreErrorKind::Closed);
}

TEST_F(SqliteRepositoryTest, AClosedRepositoryRefusesEveryCall) {
    repository_.close();
    const auto closed = [](const StoreError& e) { return e.kind() == StoreErrorKind::Closed; };
    EXPECT_TRUE(closed(store_error_from([&] { repository_.execute(insert(1), {}); })));
    EXPECT_TRUE(closed(store_error_from([&] { repository_.fetch("SELECT 1", {}); })));
    const Done<SqlResult> never = [](SqlResult, std::exception_ptr) {
        ADD_FAILURE() << "a refused call completed";
    };
    EXPECT_TRUE(
        closed(store_error_from([&] { repository_.execute_queued(insert(1), {}, never); })));
    EXPECT_TRUE(closed(store_error_from([&] { repository_.fetch_queued("SELECT 1", {}, never); })));
    EXPECT_TRUE(closed(store_error_from(
        [&] { repository_.script_queued(insert(1), [](Nothing, std::exception_ptr) {}); })));
    EXPECT_TRUE(closed(store_error_from([&] { repository_.open_session("BEGIN IMMEDIATE"); })));
    EXPECT_NO_THROW(repository_.close());
}

TEST_F(SqliteRepositoryTest, DestroyingTheLastOwnerOfTheEngineEndsOpenSessions) {
    auto owner = std::make_unique<SqliteRepository>(path_);
    auto session = owner->open_session("BEGIN IMMEDIATE");
    succeeded(run_in(*session, insert(1)));
    auto queued_write = execute_queued(*owner, insert(2));
    owner.reset();
    succeeded(queued_write);
    // The session outlives its engine: it only refuses.
    EXPECT_EQ(store_error_in(run_in(*session, insert(3)).error()).kind(), StoreErrorKind::Closed);
    EXPECT_EQ(committed(), (std::vector<std::int64_t>{2}));
}

TEST_F(SqliteRepositoryTest, ClosingAnotherStoreOfTheEngineEndsThisRepositorysSessions) {
    SqliteRepository sharing(repository_.engine());
    auto session = sharing.open_session("BEGIN IMMEDIATE");
    succeeded(run_in(*session, insert(1)));
    repository_.close();
    EXPECT_TRUE(sharing.is_closed());
    EXPECT_EQ(store_error_in(run_in(*session, insert(2)).error()).kind(), StoreErrorKind::Closed);
    EXPECT_TRUE(committed().empty());
}

// ---- :memory: ----------------------------------------------------------------------------

TEST(SqliteRepositoryInMemory, EachRepositoryIsOneDatabaseOfItsOwn) {
    SqliteRepository first(":memory:");
    SqliteRepository second(":memory:");
    first.execute(kSchema, {});
    succeeded(execute_queued(first, "INSERT INTO t (x) VALUES (1)"));
    // Reads, now and queued, see the writes: one connection serves both.
    EXPECT_EQ(first.fetch("SELECT x FROM t", {}).rows, (std::vector<Row>{{integer(1)}}));
    EXPECT_EQ(succeeded(fetch_queued(first, "SELECT x FROM t")).rows,
              (std::vector<Row>{{integer(1)}}));
    EXPECT_EQ(store_error_from([&] { second.fetch("SELECT x FROM t", {}); }).sqlite_code(),
              SQLITE_ERROR);  // no such table
}

TEST(SqliteRepositoryInMemory, ASessionHoldsTheOneConnectionAndQueriesWaitForIt) {
    SqliteRepository repository(":memory:");
    repository.execute(kSchema, {});
    auto session = repository.open_session("BEGIN IMMEDIATE");
    succeeded(run_in(*session, "INSERT INTO t (x) VALUES (1)"));
    auto query = fetch_queued(repository, "SELECT count(*) FROM t");
    succeeded(run_in(*session, "INSERT INTO t (x) VALUES (2)"));
    EXPECT_FALSE(query.arrived());
    succeeded(end(*session, true));
    EXPECT_EQ(succeeded(query).rows, (std::vector<Row>{{integer(2)}}));
}

}  // namespace
}  // namespace asap_native::testing
