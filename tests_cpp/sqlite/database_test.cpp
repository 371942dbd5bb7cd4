// sqlite::Database: path checks, file creation, the writer/reader split, close() and fork().
#include "asap_native/sqlite/database.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <future>
#include <set>
#include <thread>
#include <vector>

#include "../test_support.hpp"
#include "asap_native/errors.hpp"
#include "asap_native/sqlite/statement.hpp"

namespace asap_native::sqlite {
namespace {

using asap_native::testing::file_mode;
using asap_native::testing::RawDb;
using asap_native::testing::run_in_child;
using asap_native::testing::TempDir;
using asap_native::testing::write_file;

constexpr const char* kSchema = "CREATE TABLE IF NOT EXISTS t (k INTEGER PRIMARY KEY, v TEXT)";

std::int64_t count_rows(Connection& c) {
    Statement::Use s(c.statement("SELECT count(*) FROM t"));
    s->step();
    return s->column_int64(0);
}

std::int64_t pragma(Connection& c, const std::string& name) {
    Statement::Use s(c.statement("PRAGMA " + name));
    s->step();
    return s->column_int64(0);
}

void insert(Connection& c, std::int64_t key) {
    Statement::Use s(c.statement("INSERT INTO t (k, v) VALUES (?1, ?2)"));
    s->bind(1, key);
    s->bind(2, std::string_view("value"));
    s->run();
}

class DatabaseTest : public ::testing::Test {
protected:
    TempDir dir_;
    std::string path_ = dir_.file("db.sqlite");
};

TEST_F(DatabaseTest, CreatesTheFileOwnerOnlyWithSchemaAndWal) {
    const mode_t previous = ::umask(0);
    {
        Database db(path_, {}, kSchema);
        EXPECT_EQ(file_mode(path_), 0600);
        db.with_writer([](Connection& c) { insert(c, 1); });
        EXPECT_EQ(file_mode(path_ + "-wal"), 0600);
        EXPECT_EQ(file_mode(path_ + "-shm"), 0600);
        EXPECT_EQ(db.path(), path_);
        EXPECT_FALSE(db.in_memory());
    }
    ::umask(previous);
    RawDb raw(path_);
    EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
    EXPECT_EQ(raw.integer("SELECT count(*) FROM t"), 1);
}

TEST_F(DatabaseTest, RelativePathInTheCurrentFolder) {
    char previous[4096];
    ASSERT_NE(::getcwd(previous, sizeof previous), nullptr);
    ASSERT_EQ(::chdir(dir_.path().c_str()), 0);
    try {
        Database db("relative.db", {}, kSchema);
        db.with_writer([](Connection& c) { insert(c, 1); });
    } catch (...) {
        ::chdir(previous);
        throw;
    }
    ASSERT_EQ(::chdir(previous), 0);
    EXPECT_EQ(file_mode(dir_.file("relative.db")), 0600);
}

TEST_F(DatabaseTest, ConnectionSettingsApplyToWriterAndReaders) {
    ConnectionOptions options;
    options.durability = Durability::Full;
    options.busy_timeout = std::chrono::milliseconds(1234);
    Database db(path_, options, kSchema);
    EXPECT_EQ(db.with_writer([](Connection& c) { return pragma(c, "synchronous"); }), 2);
    EXPECT_EQ(db.with_reader([](Connection& c) { return pragma(c, "synchronous"); }), 2);
    // The busy handler is our own (it counts waits for stats()), so PRAGMA busy_timeout
    // reads 0; the connection reports the timeout its handler applies.
    EXPECT_EQ(db.with_writer([](Connection& c) { return c.busy_timeout().count(); }), 1234);
    EXPECT_EQ(db.with_reader([](Connection& c) { return c.busy_timeout().count(); }), 1234);

    Database normal(dir_.file("normal.db"), {}, kSchema);
    EXPECT_EQ(normal.with_reader([](Connection& c) { return pragma(c, "synchronous"); }), 1);
    EXPECT_EQ(normal.with_writer([](Connection& c) { return c.busy_timeout().count(); }), 15000);
}

TEST_F(DatabaseTest, SetupHookRunsOnEveryConnection) {
    std::atomic<int> setups{0};
    std::set<sqlite3*> handles;
    std::mutex handles_mutex;
    Database db(
        path_, {}, kSchema,
        [&](Connection& c) {
            ++setups;
            std::lock_guard<std::mutex> lock(handles_mutex);
            handles.insert(c.handle());
        },
        2);
    EXPECT_EQ(setups.load(), 1);  // the writer
    // Two readers leased at once need two connections.
    std::promise<void> first_leased;
    std::promise<void> release_first;
    std::thread holder([&] {
        db.with_reader([&](Connection&) {
            first_leased.set_value();
            release_first.get_future().wait();
            return 0;
        });
    });
    first_leased.get_future().wait();
    db.with_reader([](Connection&) { return 0; });
    release_first.set_value();
    holder.join();
    EXPECT_EQ(setups.load(), 3);
    // Idle readers are reused, not reopened.
    for (int i = 0; i < 10; ++i) db.with_reader([](Connection&) { return 0; });
    EXPECT_EQ(setups.load(), 3);
    EXPECT_EQ(handles.size(), 3u);
}

TEST_F(DatabaseTest, ReaderPoolNeverExceedsItsSize) {
    constexpr int kMaxReaders = 2;
    Database db(path_, {}, kSchema, {}, kMaxReaders);
    db.with_writer([](Connection& c) { insert(c, 1); });
    std::atomic<int> inside{0};
    std::atomic<int> most{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 6; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 100; ++i) {
                db.with_reader([&](Connection& c) {
                    const int now = ++inside;
                    int seen = most.load();
                    while (now > seen && !most.compare_exchange_weak(seen, now)) {
                    }
                    if (count_rows(c) != 1) ++failures;
                    --inside;
                    return 0;
                });
            }
        });
    }
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_LE(most.load(), kMaxReaders);
    EXPECT_GE(most.load(), 1);
}

// WAL: a reader is not blocked by an open write transaction and sees the last commit.
TEST_F(DatabaseTest, ReadersDoNotWaitForAnOpenWriteTransaction) {
    Database db(path_, {}, kSchema);
    db.with_writer([](Connection& c) { insert(c, 1); });
    std::promise<void> written;
    std::promise<void> may_commit;
    std::thread writer([&] {
        db.with_writer([&](Connection& c) {
            c.execute("BEGIN IMMEDIATE");
            insert(c, 2);
            written.set_value();
            may_commit.get_future().wait();
            c.execute("COMMIT");
        });
    });
    written.get_future().wait();
    EXPECT_EQ(db.with_reader([](Connection& c) { return count_rows(c); }), 1);
    may_commit.set_value();
    writer.join();
    EXPECT_EQ(db.with_reader([](Connection& c) { return count_rows(c); }), 2);
}

TEST_F(DatabaseTest, InMemoryUsesOneConnectionForEverything) {
    Database db(":memory:", {}, kSchema);
    EXPECT_TRUE(db.in_memory());
    sqlite3* writer = db.with_writer([](Connection& c) { return c.handle(); });
    sqlite3* reader = db.with_reader([](Connection& c) { return c.handle(); });
    EXPECT_EQ(writer, reader);
    db.with_writer([](Connection& c) { insert(c, 1); });
    std::thread other(
        [&] { EXPECT_EQ(db.with_reader([](Connection& c) { return count_rows(c); }), 1); });
    other.join();
    EXPECT_FALSE(std::filesystem::exists(":memory:"));
}

TEST_F(DatabaseTest, CloseIsFinalAndIdempotent) {
    Database db(path_, {}, kSchema);
    db.with_reader([](Connection& c) { return count_rows(c); });
    db.close();
    EXPECT_TRUE(db.is_closed());
    try {
        db.with_writer([](Connection&) { return 0; });
        ADD_FAILURE() << "writer used after close";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.kind(), StoreErrorKind::Closed);
    }
    try {
        db.with_reader([](Connection&) { return 0; });
        ADD_FAILURE() << "reader used after close";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.kind(), StoreErrorKind::Closed);
    }
    db.close();
}

// close() waits for a leased reader to come back, then no new lease is given out.
TEST_F(DatabaseTest, CloseWaitsForLeasedReaders) {
    Database db(path_, {}, kSchema);
    std::promise<void> leased;
    std::promise<void> release;
    std::atomic<bool> lease_done{false};
    std::thread reader([&] {
        db.with_reader([&](Connection& c) {
            leased.set_value();
            release.get_future().wait();
            count_rows(c);  // the connection is still open while leased
            lease_done = true;
            return 0;
        });
    });
    leased.get_future().wait();
    std::atomic<bool> close_returned{false};
    std::thread closer([&] {
        db.close();
        close_returned = true;
        EXPECT_TRUE(lease_done.load());
    });
    while (!db.is_closed()) std::this_thread::yield();
    EXPECT_FALSE(close_returned.load());
    release.set_value();
    reader.join();
    closer.join();
    EXPECT_TRUE(close_returned.load());
}

TEST_F(DatabaseTest, PathErrors) {
    try {
        Database db(dir_.path(), {}, kSchema);
        ADD_FAILURE() << "opened a directory";
    } catch (const PathError& e) {
        EXPECT_EQ(e.error_number(), EISDIR);
    }
    try {
        Database db(dir_.file("no/such/folder/db.sqlite"), {}, kSchema);
        ADD_FAILURE() << "opened a file in a missing folder";
    } catch (const PathError& e) {
        EXPECT_EQ(e.error_number(), ENOENT);
    }
    write_file(dir_.file("file"), "");
    try {
        Database db(dir_.file("file/db.sqlite"), {}, kSchema);
        ADD_FAILURE() << "opened a file below a file";
    } catch (const PathError& e) {
        EXPECT_TRUE(e.error_number() == ENOTDIR || e.error_number() == ENOENT) << e.what();
    }
    EXPECT_THROW(Database("", {}, kSchema), InvalidArgument);
}

TEST_F(DatabaseTest, NotADatabaseLeavesTheFileAlone) {
    const std::string garbage(8192, '\x7f');
    write_file(path_, garbage);
    try {
        Database db(path_, {}, kSchema);
        ADD_FAILURE() << "opened garbage";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.kind(), StoreErrorKind::NotADatabase);
        EXPECT_EQ(e.sqlite_code() & 0xff, SQLITE_NOTADB);
    }
    EXPECT_EQ(asap_native::testing::read_file(path_), garbage);
    EXPECT_FALSE(std::filesystem::exists(path_ + "-wal"));
}

TEST_F(DatabaseTest, BadSchemaIsAStoreError) {
    try {
        Database db(path_, {}, "CREATE TABLE (");
        ADD_FAILURE() << "bad schema accepted";
    } catch (const StoreError& e) {
        EXPECT_EQ(e.kind(), StoreErrorKind::Other);
        EXPECT_EQ(e.sqlite_code() & 0xff, SQLITE_ERROR);
    }
}

TEST_F(DatabaseTest, FailingSetupHookPropagatesAndReadersRecover) {
    std::atomic<int> calls{0};
    Database db(
        path_, {}, kSchema,
        [&](Connection&) {
            if (++calls == 2) throw StoreError(StoreErrorKind::Other, 0, "setup failed");
        },
        1);
    EXPECT_THROW(db.with_reader([](Connection&) { return 0; }), StoreError);
    // The failed open gave its slot back: with a pool of one, the next lease still works.
    EXPECT_EQ(db.with_reader([](Connection& c) { return count_rows(c); }), 0);
}

TEST_F(DatabaseTest, ForkedChildReopensItsConnections) {
    Database db(path_, {}, kSchema);
    db.with_writer([](Connection& c) { insert(c, 1); });
    sqlite3* parent_writer = db.with_writer([](Connection& c) { return c.handle(); });
    db.with_reader([](Connection& c) { return count_rows(c); });
    // The child closes the inherited connections (ForkGuard) and opens new ones; a new handle
    // may reuse the freed address, so what is checked is that both processes keep working.
    const auto result = run_in_child([&](std::string& message) {
        if (db.with_reader([](Connection& c) { return count_rows(c); }) != 1) return 1;
        db.with_writer([&](Connection& c) { insert(c, 2); });
        if (db.with_reader([](Connection& c) { return count_rows(c); }) != 2) {
            message = "the child does not read its own write";
            return 2;
        }
        return 0;
    });
    ASSERT_EQ(result.exit_code, 0) << result.message;
    EXPECT_EQ(db.with_reader([](Connection& c) { return count_rows(c); }), 2);
    EXPECT_EQ(db.with_writer([](Connection& c) { return c.handle(); }), parent_writer);
    db.with_writer([](Connection& c) { insert(c, 3); });
    RawDb raw(path_);
    EXPECT_EQ(raw.integer("SELECT count(*) FROM t"), 3);
}

}  // namespace
}  // namespace asap_native::sqlite
