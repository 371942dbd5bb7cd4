// SqliteSnapshotStore: the shared contract on a file and on ":memory:", plus persistence,
// sharing, file compatibility with asap-protocol, fork() and every error path.
#include "asap_native/sqlite_snapshot_store.hpp"

#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "asap_native/errors.hpp"
#include "asap_native/sqlite/connection.hpp"
#include "asap_native/sqlite/database.hpp"
#include "asap_native/sqlite/statement.hpp"
#include "store_contracts.hpp"

namespace asap_native::testing {
namespace {

using Versions = std::vector<std::int64_t>;
using sqlite::ConnectionOptions;
using sqlite::Durability;

INSTANTIATE_TEST_SUITE_P(
    Sqlite, SnapshotStoreContract,
    ::testing::ValuesIn(sqlite_factories<SnapshotStore, SqliteSnapshotStore>()),
    factory_name<SnapshotStore>);

ConnectionOptions short_timeout() {
    ConnectionOptions options;
    options.busy_timeout = std::chrono::milliseconds(50);
    return options;
}

class SqliteSnapshotStoreTest : public ::testing::Test {
protected:
    TempDir dir_;
    std::string path_ = dir_.file("snapshots.db");
};

TEST_F(SqliteSnapshotStoreTest, DataPersistsAcrossReopen) {
    {
        SqliteSnapshotStore store(path_);
        for (std::int64_t v : {1, 2, 3}) store.save(make_snapshot("task", v));
        store.remove("task", 2);
        store.close();
    }
    {
        // Destroyed without close(): the destructor closes it.
        SqliteSnapshotStore store(path_);
        EXPECT_EQ(store.list_versions("task"), (Versions{1, 3}));
        EXPECT_EQ(store.get("task", std::nullopt)->data_json, make_snapshot("task", 3).data_json);
        store.save(make_snapshot("task", 4));
    }
    SqliteSnapshotStore store(path_);
    EXPECT_EQ(store.list_versions("task"), (Versions{1, 3, 4}));
}

TEST_F(SqliteSnapshotStoreTest, FullDurabilityWorksAndIsApplied) {
    ConnectionOptions options;
    options.durability = Durability::Full;
    SqliteSnapshotStore store(path_, options);
    store.save(make_snapshot("task", 1));
    EXPECT_EQ(store.get("task", 1)->version, 1);
    auto synchronous = [](sqlite::Connection& c) {
        sqlite::Statement::Use s(c.statement("PRAGMA synchronous"));
        s->step();
        return s->column_int64(0);
    };
    EXPECT_EQ(store.database().with_writer(synchronous), 2);  // FULL
    EXPECT_EQ(store.database().with_reader(synchronous), 2);

    SqliteSnapshotStore normal(dir_.file("normal.db"));
    EXPECT_EQ(normal.database().with_writer(synchronous), 1);  // NORMAL
    EXPECT_EQ(normal.database().with_reader(synchronous), 1);
}

TEST_F(SqliteSnapshotStoreTest, NewFileIsWalAndOwnerOnly) {
    const mode_t previous = ::umask(0);  // so that only the store decides the mode
    {
        SqliteSnapshotStore store(path_);
        store.save(make_snapshot("task", 1));
        store.get("task", 1);
        EXPECT_EQ(file_mode(path_), 0600);
        // SQLite gives the -wal and -shm files the database file's mode.
        EXPECT_EQ(file_mode(path_ + "-wal"), 0600);
        EXPECT_EQ(file_mode(path_ + "-shm"), 0600);
        RawDb raw(path_);
        EXPECT_EQ(raw.text("PRAGMA journal_mode"), "wal");
    }
    ::umask(previous);
}

TEST_F(SqliteSnapshotStoreTest, ExistingFileKeepsItsMode) {
    write_file(path_, "");
    ASSERT_EQ(::chmod(path_.c_str(), 0640), 0);
    SqliteSnapshotStore store(path_);  // an empty file is an empty database
    store.save(make_snapshot("task", 1));
    EXPECT_EQ(file_mode(path_), 0640);
    EXPECT_EQ(store.list_versions("task"), (Versions{1}));
}

// A file written by asap-protocol's SQLiteSnapshotStore (its DDL and row format) is read by
// ours, and ours writes rows it reads back.
TEST_F(SqliteSnapshotStoreTest, ReadsAndWritesAsapProtocolFiles) {
    {
        RawDb raw(path_);
        raw.exec(test_data("asap_protocol_snapshots.sql"));
        raw.exec(R"sql(
INSERT OR REPLACE INTO snapshots VALUES
    ('task', 'snap_1', 1, '{"b": 1, "a": [1, 2]}', 1, '2024-05-01T10:00:00+00:00'),
    ('task', 'snap_2', 2, '{}', 0, '2024-05-01T11:00:00.123456+00:00');
)sql");
    }
    SqliteSnapshotStore store(path_);
    auto first = store.get("task", 1);
    ASSERT_TRUE(first.has_value());
    EXPECT_EQ(first->id, "snap_1");
    EXPECT_EQ(first->data_json, R"({"b": 1, "a": [1, 2]})");
    EXPECT_TRUE(first->checkpoint);
    EXPECT_EQ(first->created_at, "2024-05-01T10:00:00+00:00");
    EXPECT_FALSE(store.get("task", std::nullopt)->checkpoint);
    EXPECT_EQ(store.list_versions("task"), (Versions{1, 2}));

    Snapshot mine = make_snapshot("task", 2, R"({"z":true})");
    mine.checkpoint = true;
    store.save(mine);  // replaces asap's version 2
    RawDb raw(path_);
    EXPECT_EQ(raw.integer("SELECT count(*) FROM snapshots"), 2);
    EXPECT_EQ(raw.text("SELECT id || '|' || data || '|' || checkpoint || '|' || created_at "
                       "FROM snapshots WHERE task_id = 'task' AND version = 2"),
              "snap_task_2|{\"z\":true}|1|2024-05-01T10:00:00+00:00");
    EXPECT_EQ(raw.text("SELECT typeof(version) || typeof(checkpoint) FROM snapshots LIMIT 1"),
              "integerinteger");
}

TEST_F(SqliteSnapshotStoreTest, TableWithAnotherLayoutGivesStoreError) {
    {
        RawDb raw(path_);
        raw.exec("CREATE TABLE snapshots (task_id TEXT)");
    }
    SqliteSnapshotStore store(path_);
    EXPECT_THROW(store.save(make_snapshot("task", 1)), StoreError);
    EXPECT_THROW(store.get("task", std::nullopt), StoreError);
    EXPECT_THROW(store.list_versions("task"), StoreError);
}

TEST_F(SqliteSnapshotStoreTest, InMemoryDatabaseIsOneDatabaseForAllThreadsAndCalls) {
    SqliteSnapshotStore store(":memory:");
    std::thread writer([&] {
        for (std::int64_t v = 1; v <= 20; ++v) store.save(make_snapshot("task", v));
    });
    writer.join();
    std::atomic<int> failures{0};
    std::vector<std::thread> readers;
    for (int r = 0; r < 3; ++r) {
        readers.emplace_back([&] {
            if (store.list_versions("task").size() != 20) ++failures;
            auto latest = store.get("task", std::nullopt);
            if (!latest || latest->version != 20) ++failures;
        });
    }
    for (auto& t : readers) t.join();
    EXPECT_EQ(failures.load(), 0);
    std::thread remover([&] { EXPECT_TRUE(store.remove("task", 20)); });
    remover.join();
    EXPECT_EQ(store.get("task", std::nullopt)->version, 19);
    EXPECT_TRUE(store.database().in_memory());

    // Each ":memory:" store is a database of its own.
    SqliteSnapshotStore other(":memory:");
    EXPECT_TRUE(other.list_versions("task").empty());
}

TEST_F(SqliteSnapshotStoreTest, TwoStoresOnOneFileSeeEachOthersWritesUnderConcurrency) {
    SqliteSnapshotStore a(path_);
    SqliteSnapshotStore b(path_);
    constexpr int kVersions = 40;
    std::atomic<int> failures{0};
    auto work = [&](SqliteSnapshotStore& mine, SqliteSnapshotStore& theirs,
                    const std::string& my_task, const std::string& their_task) {
        try {
            std::int64_t seen = 0;
            for (int v = 1; v <= kVersions; ++v) {
                mine.save(make_snapshot(my_task, v));
                // The other store sees this write as soon as save returns.
                auto got = theirs.get(my_task, v);
                if (!got || got->data_json != make_snapshot(my_task, v).data_json) ++failures;
                auto other = mine.get(their_task, std::nullopt);
                if (other) {
                    if (other->version < seen) ++failures;
                    if (other->data_json != make_snapshot(their_task, other->version).data_json)
                        ++failures;
                    seen = other->version;
                }
            }
        } catch (const std::exception&) {
            ++failures;
        }
    };
    std::thread ta(work, std::ref(a), std::ref(b), "task_a", "task_b");
    std::thread tb(work, std::ref(b), std::ref(a), "task_b", "task_a");
    ta.join();
    tb.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_EQ(a.list_versions("task_b").size(), static_cast<std::size_t>(kVersions));
    EXPECT_EQ(b.list_versions("task_a").size(), static_cast<std::size_t>(kVersions));
    EXPECT_TRUE(b.remove("task_a", std::nullopt));
    EXPECT_TRUE(a.list_versions("task_a").empty());
}

TEST_F(SqliteSnapshotStoreTest, ReadersUseTheirOwnConnections) {
    SqliteSnapshotStore store(path_);
    sqlite3* writer =
        store.database().with_writer([](sqlite::Connection& c) { return c.handle(); });
    sqlite3* reader =
        store.database().with_reader([](sqlite::Connection& c) { return c.handle(); });
    EXPECT_NE(writer, reader);
}

TEST_F(SqliteSnapshotStoreTest, ClosedStoreThrowsClosed) {
    SqliteSnapshotStore store(path_);
    store.save(make_snapshot("task", 1));
    store.get("task", 1);
    EXPECT_FALSE(store.is_closed());
    store.close();
    EXPECT_TRUE(store.is_closed());
    for (auto& call : std::vector<std::function<void()>>{
             [&] { store.save(make_snapshot("task", 2)); },
             [&] { store.get("task", std::nullopt); },
             [&] { store.get("task", 1); },
             [&] { store.list_versions("task"); },
             [&] { store.remove("task", 1); },
             [&] { store.remove("task", std::nullopt); },
         }) {
        const StoreError e = store_error_from(call);
        EXPECT_EQ(e.kind(), StoreErrorKind::Closed);
        EXPECT_EQ(e.sqlite_code(), 0);
    }
    store.close();  // a second close is harmless
    EXPECT_TRUE(store.is_closed());
    // Even a call that would be invalid: a closed store has nothing to check it against.
    EXPECT_EQ(store_error_from([&] { store.get("", std::nullopt); }).kind(),
              StoreErrorKind::Closed);
    // Nothing was lost by closing.
    SqliteSnapshotStore reopened(path_);
    EXPECT_EQ(reopened.list_versions("task"), (Versions{1}));
}

TEST_F(SqliteSnapshotStoreTest, InMemoryClosedStoreThrowsClosed) {
    SqliteSnapshotStore store(":memory:");
    store.close();
    EXPECT_EQ(store_error_from([&] { store.get("task", std::nullopt); }).kind(),
              StoreErrorKind::Closed);
    EXPECT_EQ(store_error_from([&] { store.save(make_snapshot("task", 1)); }).kind(),
              StoreErrorKind::Closed);
}

// close() while other threads are mid-call: each call either completes or throws Closed.
TEST_F(SqliteSnapshotStoreTest, CloseWhileInUse) {
    SqliteSnapshotStore store(path_);
    std::atomic<int> calls{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            const std::string task = "task_" + std::to_string(t);
            for (int v = 1; v <= 2000; ++v) {
                try {
                    if (t % 2 == 0)
                        store.save(make_snapshot(task, v));
                    else
                        store.get("task_0", std::nullopt);
                    ++calls;
                } catch (const StoreError& e) {
                    if (e.kind() != StoreErrorKind::Closed) ++failures;
                    return;
                } catch (...) {
                    ++failures;
                    return;
                }
            }
        });
    }
    while (calls.load() < 50) std::this_thread::yield();
    store.close();
    for (auto& t : threads) t.join();
    EXPECT_EQ(failures.load(), 0);
    EXPECT_TRUE(store.is_closed());
}

TEST_F(SqliteSnapshotStoreTest, PathThatIsADirectory) {
    const PathError e = path_error_from([&] { SqliteSnapshotStore store(dir_.path()); });
    EXPECT_EQ(e.error_number(), EISDIR);
    EXPECT_EQ(e.path(), dir_.path());
    EXPECT_NE(std::string(e.what()).find("directory"), std::string::npos) << e.what();
    // PathError is an InvalidArgument.
    EXPECT_THROW(SqliteSnapshotStore store(dir_.path()), InvalidArgument);
}

TEST_F(SqliteSnapshotStoreTest, PathInAMissingFolder) {
    const std::string path = dir_.file("missing/sub/store.db");
    const PathError e = path_error_from([&] { SqliteSnapshotStore store(path); });
    EXPECT_EQ(e.error_number(), ENOENT);
    EXPECT_EQ(e.path(), path);
    EXPECT_FALSE(std::filesystem::exists(dir_.file("missing")));
}

TEST_F(SqliteSnapshotStoreTest, PathThroughAFile) {
    write_file(dir_.file("plain"), "x");
    EXPECT_THROW(SqliteSnapshotStore store(dir_.file("plain/store.db")), InvalidArgument);
}

TEST_F(SqliteSnapshotStoreTest, EmptyPathAndNulInPath) {
    EXPECT_THROW(SqliteSnapshotStore store(""), InvalidArgument);
    EXPECT_THROW(SqliteSnapshotStore store(std::string("a\0b", 3)), InvalidArgument);
}

TEST_F(SqliteSnapshotStoreTest, FileThatIsNotADatabase) {
    std::string garbage;
    for (int i = 0; i < 200; ++i) garbage += "this is not a SQLite database, just text. ";
    write_file(path_, garbage);
    const StoreError e = store_error_from([&] { SqliteSnapshotStore store(path_); });
    EXPECT_EQ(e.kind(), StoreErrorKind::NotADatabase);
    EXPECT_EQ(e.sqlite_code() & 0xff, SQLITE_NOTADB);
    EXPECT_EQ(e.sqlite_error_name(), "SQLITE_NOTADB");
    EXPECT_EQ(read_file(path_), garbage);  // left untouched
}

TEST_F(SqliteSnapshotStoreTest, LockedDatabaseGivesBusyAndReadsStillWork) {
    SqliteSnapshotStore store(path_, short_timeout());
    store.save(make_snapshot("task", 1));
    RawDb other(path_);
    other.exec("BEGIN EXCLUSIVE");
    other.exec("INSERT INTO snapshots VALUES ('locked', 'x', 1, '{}', 0, '2024-01-01')");
    for (auto& call : std::vector<std::function<void()>>{
             [&] { store.save(make_snapshot("task", 2)); },
             [&] { store.remove("task", 1); },
             [&] { store.remove("task", std::nullopt); },
         }) {
        const StoreError e = store_error_from(call);
        EXPECT_EQ(e.kind(), StoreErrorKind::Busy);
        EXPECT_EQ(e.sqlite_code() & 0xff, SQLITE_BUSY);
        EXPECT_EQ(e.sqlite_error_name(), "SQLITE_BUSY");
    }
    // WAL: readers do not wait for the writer and see the last committed state.
    EXPECT_EQ(store.list_versions("task"), (Versions{1}));
    EXPECT_FALSE(store.get("locked", std::nullopt).has_value());
    other.exec("COMMIT");
    // The store is usable again once the lock is gone.
    store.save(make_snapshot("task", 2));
    EXPECT_EQ(store.list_versions("task"), (Versions{1, 2}));
    EXPECT_TRUE(store.get("locked", 1).has_value());
}

TEST_F(SqliteSnapshotStoreTest, OpeningALockedRollbackJournalDatabaseGivesBusy) {
    RawDb other(path_);
    other.exec("CREATE TABLE unrelated (x); BEGIN EXCLUSIVE; INSERT INTO unrelated VALUES (1);");
    const StoreError e =
        store_error_from([&] { SqliteSnapshotStore store(path_, short_timeout()); });
    EXPECT_EQ(e.kind(), StoreErrorKind::Busy);
    EXPECT_EQ(e.sqlite_code() & 0xff, SQLITE_BUSY);
    other.exec("ROLLBACK");
    SqliteSnapshotStore store(path_, short_timeout());
    store.save(make_snapshot("task", 1));
    EXPECT_EQ(store.list_versions("task"), (Versions{1}));
}

// Root ignores file permissions, so the unprivileged cases run in a child that drops to
// "nobody"; as another user the permissions apply directly.
class SqliteSnapshotStorePermissions : public SqliteSnapshotStoreTest {
protected:
    // Runs `body` where permissions apply; skips the test when that is impossible.
    void run_unprivileged(const std::function<int(std::string&)>& body) {
        if (::geteuid() != 0) {
            std::string message;
            const int code = body(message);
            EXPECT_EQ(code, 0) << message;
            return;
        }
        ASSERT_EQ(::chmod(dir_.path().c_str(), 0755), 0);
        const ChildResult result = run_in_child([&](std::string& message) {
            if (!drop_to_nobody()) return kChildSkipped;
            return body(message);
        });
        if (result.exit_code == kChildSkipped) GTEST_SKIP() << "cannot switch to user nobody";
        EXPECT_EQ(result.exit_code, 0) << result.message;
    }

    // Where permissions apply, opening the store must throw a StoreError of `kind` with the
    // primary SQLite code `code`; `if_opened` says what went wrong when it opens.
    void expect_open_error(StoreErrorKind kind, int code, const std::string& if_opened) {
        run_unprivileged([&](std::string& message) {
            try {
                SqliteSnapshotStore store(path_);
                message = if_opened;
                return 1;
            } catch (const StoreError& e) {
                message = e.what();
                if (e.kind() != kind) return 2;
                if ((e.sqlite_code() & 0xff) != code) return 3;
                return 0;
            }
        });
    }
};

TEST_F(SqliteSnapshotStorePermissions, ReadOnlyFileGivesReadOnly) {
    {
        SqliteSnapshotStore store(path_);
        store.save(make_snapshot("task", 1));
    }
    ASSERT_EQ(::chmod(path_.c_str(), 0444), 0);
    expect_open_error(StoreErrorKind::ReadOnly, SQLITE_READONLY,
                      "opened a read-only file for writing");
}

TEST_F(SqliteSnapshotStorePermissions, UnreadableFileGivesCantOpen) {
    { SqliteSnapshotStore store(path_); }
    ASSERT_EQ(::chmod(path_.c_str(), 0), 0);
    expect_open_error(StoreErrorKind::CantOpen, SQLITE_CANTOPEN, "opened an unreadable file");
}

TEST_F(SqliteSnapshotStorePermissions, UnwritableFolderGivesPathError) {
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0555), 0);
    run_unprivileged([&](std::string& message) {
        try {
            SqliteSnapshotStore store(path_);
            message = "created a file in an unwritable folder";
            return 1;
        } catch (const PathError& e) {
            message = e.what();
            return e.error_number() == EACCES ? 0 : 2;
        }
    });
    ::chmod(dir_.path().c_str(), 0700);
}

// A child made by fork() gets connections of its own: it sees the parent's data, its writes
// reach the parent, and the parent's connections keep working.
TEST_F(SqliteSnapshotStoreTest, ForkedChildCanSaveAndParentSeesIt) {
    SqliteSnapshotStore store(path_);
    store.save(make_snapshot("task", 1));
    ASSERT_TRUE(store.get("task", 1).has_value());  // the parent has a reader open too
    const ChildResult result = run_in_child([&](std::string& message) {
        try {
            auto first = store.get("task", 1);
            if (!first || first->data_json != make_snapshot("task", 1).data_json) return 1;
            store.save(make_snapshot("task", 2));
            if (store.list_versions("task") != Versions{1, 2}) return 2;
            if (!store.remove("task", 1)) return 3;
            store.close();
            return 0;
        } catch (const std::exception& e) {
            message = e.what();
            return 4;
        }
    });
    ASSERT_EQ(result.exit_code, 0) << result.message;
    EXPECT_EQ(store.list_versions("task"), (Versions{2}));
    EXPECT_EQ(store.get("task", std::nullopt)->data_json, make_snapshot("task", 2).data_json);
    store.save(make_snapshot("task", 3));
    EXPECT_EQ(store.list_versions("task"), (Versions{2, 3}));
}

TEST_F(SqliteSnapshotStoreTest, ForkedChildWithInMemoryDatabaseWorksOnItsCopy) {
    SqliteSnapshotStore store(":memory:");
    store.save(make_snapshot("task", 1));
    const ChildResult result = run_in_child([&](std::string&) {
        store.save(make_snapshot("task", 2));
        return store.list_versions("task") == Versions{1, 2} ? 0 : 1;
    });
    ASSERT_EQ(result.exit_code, 0) << result.message;
    EXPECT_EQ(store.list_versions("task"), (Versions{1}));
}

}  // namespace
}  // namespace asap_native::testing
