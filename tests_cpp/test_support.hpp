// Helpers shared by the GoogleTest suite: temporary folders, the data files of tests_cpp/data,
// a raw SQLite handle for setting up situations the stores must cope with, model builders, a
// UTC oracle, threads started together, a latch, queued calls and their outcome, SQL
// parameters and a fork() runner.
#pragma once

#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <exception>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "asap_native/queued_call.hpp"
#include "asap_native/snapshot.hpp"
#include "asap_native/sql.hpp"
#include "asap_native/timestamp.hpp"
#include "asap_native/usage.hpp"

namespace asap_native::testing {

/// The text of an ordered JSON object, as `Snapshot::data_json` holds it (key order kept).
inline std::string snapshot_data_from_json(const nlohmann::ordered_json& data) {
    if (!data.is_object()) throw std::invalid_argument("snapshot data must be a JSON object");
    return data.dump();
}

/// `Snapshot::data_json` parsed back into an ordered JSON object.
inline nlohmann::ordered_json snapshot_data_to_json(const std::string& data_json) {
    return nlohmann::ordered_json::parse(data_json);
}

/// A fresh folder under $TMPDIR (or /tmp), removed with its contents on destruction.
class TempDir {
public:
    TempDir() {
        const char* base = std::getenv("TMPDIR");
        std::string pattern =
            std::string(base && *base ? base : "/tmp") + "/asap_native_test.XXXXXX";
        if (::mkdtemp(pattern.data()) == nullptr)
            throw std::runtime_error("mkdtemp failed for " + pattern);
        path_ = pattern;
    }
    ~TempDir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::string& path() const { return path_; }
    /// `name` inside the folder.
    std::string file(const std::string& name) const { return path_ + "/" + name; }

private:
    std::string path_;
};

/// Writes `content` to `path`, replacing the file.
inline void write_file(const std::string& path, const std::string& content) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + path);
}

/// Reads the whole file.
inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// A file of tests_cpp/data, whole; throws when it is missing (an empty oracle would pass).
inline std::string test_data(const std::string& name) {
    const std::string path = std::string(ASAP_NATIVE_TEST_DATA_DIR) + "/" + name;
    if (!std::filesystem::is_regular_file(path))
        throw std::runtime_error("no test data file " + path);
    return read_file(path);
}

/// Permission bits of `path`, or -1 when it does not exist.
inline int file_mode(const std::string& path) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) return -1;
    return static_cast<int>(info.st_mode & 07777);
}

/// A plain sqlite3 connection (default flags, full mutex), as another program would hold one.
class RawDb {
public:
    explicit RawDb(const std::string& path, int busy_timeout_ms = 5000) {
        if (sqlite3_open(path.c_str(), &db_) != SQLITE_OK) {
            const std::string message = sqlite3_errmsg(db_);
            sqlite3_close(db_);
            throw std::runtime_error("raw open failed: " + message);
        }
        sqlite3_busy_timeout(db_, busy_timeout_ms);
    }
    ~RawDb() { sqlite3_close(db_); }
    RawDb(const RawDb&) = delete;
    RawDb& operator=(const RawDb&) = delete;

    /// Runs SQL that returns no rows; throws std::runtime_error with SQLite's message.
    void exec(const std::string& sql) {
        char* error = nullptr;
        const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
        const std::string message = error ? error : "";
        sqlite3_free(error);
        if (rc != SQLITE_OK) throw std::runtime_error("raw exec failed: " + message);
    }
    /// The first column of the first row as text ("" when there is no row or it is NULL).
    std::string text(const std::string& sql) {
        sqlite3_stmt* stmt = nullptr;
        if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
            throw std::runtime_error(std::string("raw prepare failed: ") + sqlite3_errmsg(db_));
        std::string out;
        const int rc = sqlite3_step(stmt);
        if (rc == SQLITE_ROW && sqlite3_column_text(stmt, 0) != nullptr)
            out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
        sqlite3_finalize(stmt);
        if (rc != SQLITE_ROW && rc != SQLITE_DONE)
            throw std::runtime_error(std::string("raw step failed: ") + sqlite3_errmsg(db_));
        return out;
    }
    /// The first column of the first row as an integer.
    std::int64_t integer(const std::string& sql) { return std::stoll(text(sql)); }
    sqlite3* handle() const { return db_; }

private:
    sqlite3* db_ = nullptr;
};

/// How `table` of the database at `path` is laid out, as text to compare: each column's name,
/// type, NOT NULL and place in the primary key, then each index with its columns.
inline std::string table_layout(const std::string& path, const std::string& table) {
    const std::string columns =
        "SELECT group_concat(name || ':' || type || ':' || \"notnull\" || ':' || pk, ',') "
        "FROM pragma_table_info('" +
        table + "')";
    const std::string indexes =
        "SELECT group_concat(i.name || '(' || (SELECT group_concat(name, ',') FROM "
        "pragma_index_info(i.name)) || ')', ';') FROM (SELECT name FROM sqlite_master "
        "WHERE type = 'index' AND tbl_name = '" +
        table + "' AND sql IS NOT NULL ORDER BY name) AS i";
    RawDb db(path);
    return db.text(columns) + " | " + db.text(indexes);
}

/// A snapshot whose data names its task and version, so a reader can check what it got.
inline Snapshot make_snapshot(const std::string& task_id, std::int64_t version,
                              std::string data_json = "") {
    Snapshot s;
    s.task_id = task_id;
    s.id = "snap_" + task_id + "_" + std::to_string(version);
    s.version = version;
    s.data_json = data_json.empty()
                      ? "{\"task\":\"" + task_id + "\",\"version\":" + std::to_string(version) + "}"
                      : std::move(data_json);
    s.checkpoint = version % 2 == 0;
    s.created_at = "2024-05-01T10:00:00+00:00";
    return s;
}

/// A usage event with the given counters.
inline UsageEvent make_event(const std::string& agent_id, const std::string& timestamp,
                             UsageCount tokens_in = 1, UsageCount tokens_out = 2,
                             UsageCount duration_ms = 3, UsageCount api_calls = 4,
                             const std::string& task_id = "task_1") {
    UsageEvent e;
    e.task_id = task_id;
    e.agent_id = agent_id;
    e.consumer_id = "consumer_1";
    e.metrics = UsageMetrics{tokens_in, tokens_out, duration_ms, api_calls};
    e.timestamp = timestamp;
    return e;
}

/// The instant of a UTC wall time, computed by the C library (an oracle independent of the
/// timestamp parser under test).
inline InstantMicros utc(int year, int month, int day, int hour = 0, int minute = 0, int second = 0,
                         int micros = 0) {
    std::tm tm{};
    tm.tm_year = year - 1900;
    tm.tm_mon = month - 1;
    tm.tm_mday = day;
    tm.tm_hour = hour;
    tm.tm_min = minute;
    tm.tm_sec = second;
    return static_cast<InstantMicros>(::timegm(&tm)) * 1000000 + micros;
}

/// The message of an exception held in `error`.
inline std::string message_of(const std::exception_ptr& error) {
    try {
        std::rethrow_exception(error);
    } catch (const std::exception& e) {
        return e.what();
    } catch (...) {
        return "non-standard exception";
    }
}

/// Runs body(0) .. body(count - 1), each on a thread of its own, and waits for them all.
inline void run_threads(int count, const std::function<void(int)>& body) {
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(count));
    for (int index = 0; index < count; ++index) threads.emplace_back(body, index);
    for (auto& thread : threads) thread.join();
}

/// Runs write(w) on `writers` threads and read(r, writing) on `readers` threads at once, where
/// writing() stays true until every writer has returned; both add each check that fails to
/// `failures`, and an exception escaping either counts as one failure. Returns the failures.
inline int run_writers_and_readers(
    int writers, int readers, const std::function<void(int, std::atomic<int>&)>& write,
    const std::function<void(int, const std::function<bool()>&, std::atomic<int>&)>& read) {
    std::atomic<int> writers_left{writers};
    std::atomic<int> failures{0};
    const std::function<bool()> writing = [&] { return writers_left.load() > 0; };
    run_threads(writers + readers, [&](int index) {
        try {
            if (index < writers)
                write(index, failures);
            else
                read(index - writers, writing, failures);
        } catch (const std::exception&) {
            ++failures;
        }
        if (index < writers) --writers_left;
    });
    return failures.load();
}

/// How long a test waits for another thread before calling it a hang: long enough never to
/// run out on a healthy run, so only a lost job or a deadlock ever reaches it.
constexpr auto kPatience = std::chrono::seconds(60);

/// A latch a thread can wait on, opened once from another.
class Gate {
public:
    void open() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            open_ = true;
        }
        cv_.notify_all();
    }
    void wait() {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return open_; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool open_ = false;
};

/// What a queued call hands its Done callback: the result, or the error that replaced it.
template <typename Result>
struct Outcome {
    Result result{};
    std::exception_ptr error;
};

/// A Done callback for one queued call, and what it received. A second call of the callback
/// throws from inside it (Done must not throw), so a call completed twice does not go unseen.
template <typename Result>
class QueuedOutcome {
public:
    QueuedOutcome() : future_(promise_->get_future().share()) {}

    Done<Result> done() {
        return [promise = promise_](Result result, std::exception_ptr error) {
            promise->set_value(Outcome<Result>{std::move(result), error});
        };
    }
    /// True once the callback ran (without waiting).
    bool arrived() const {
        return future_.wait_for(std::chrono::seconds(0)) == std::future_status::ready;
    }
    /// Waits for the callback; throws std::runtime_error when it never comes.
    const Outcome<Result>& get() const {
        if (future_.wait_for(kPatience) != std::future_status::ready)
            throw std::runtime_error("a queued call never completed");
        return future_.get();
    }
    const Result& result() const { return get().result; }
    std::exception_ptr error() const { return get().error; }

private:
    std::shared_ptr<std::promise<Outcome<Result>>> promise_ =
        std::make_shared<std::promise<Outcome<Result>>>();
    std::shared_future<Outcome<Result>> future_;
};

/// Runs `(target.*queue)(arguments..., done)`, a queued call, and returns what its Done gets.
template <typename Result, typename Target, typename Queue, typename... Arguments>
QueuedOutcome<Result> call_queued(Target& target, Queue queue, Arguments&&... arguments) {
    QueuedOutcome<Result> outcome;
    (target.*queue)(std::forward<Arguments>(arguments)..., outcome.done());
    return outcome;
}

/// Parameters by position, as sqlite3 takes them from a sequence.
inline SqlParameters by_position(std::vector<SqlValue> values) {
    SqlParameters parameters;
    parameters.positional = std::move(values);
    return parameters;
}

/// Parameters by name (without their prefix), as sqlite3 takes them from a mapping.
inline SqlParameters by_name(std::map<std::string, SqlValue> values) {
    SqlParameters parameters;
    parameters.named = std::move(values);
    parameters.by_name = true;
    return parameters;
}

/// An INTEGER value (a bare literal would not pick the variant's alternative).
inline SqlValue integer(std::int64_t value) { return value; }

/// What a forked child reported: its exit code and what it wrote to `message`.
struct ChildResult {
    int exit_code = -1;  ///< -1 when the child did not exit normally.
    std::string message;
};

/// Runs `body` in a forked child and waits for it. The child leaves with _exit(), so no
/// destructors, atexit handlers or leak checks of the parent's objects run in it.
inline ChildResult run_in_child(const std::function<int(std::string& message)>& body) {
    int fds[2];
    if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        ::close(fds[0]);
        std::string message;
        int code = 99;
        try {
            code = body(message);
        } catch (const std::exception& e) {
            message = std::string("unexpected exception: ") + e.what();
            code = 98;
        } catch (...) {
            message = "unexpected non-standard exception";
            code = 97;
        }
        std::size_t written = 0;
        while (written < message.size()) {
            const ssize_t n = ::write(fds[1], message.data() + written, message.size() - written);
            if (n <= 0) break;
            written += static_cast<std::size_t>(n);
        }
        ::_exit(code);
    }
    ::close(fds[1]);
    ChildResult result;
    char buffer[512];
    for (;;) {
        const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        result.message.append(buffer, static_cast<std::size_t>(n));
    }
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

/// Exit code a child uses when the test cannot run there (e.g. setuid is not permitted).
constexpr int kChildSkipped = 77;

/// In a forked child running as root: becomes the unprivileged user "nobody" (65534).
/// Returns false when the system does not allow it.
inline bool drop_to_nobody() {
    return ::setgid(65534) == 0 && ::setuid(65534) == 0 && ::geteuid() == 65534;
}

}  // namespace asap_native::testing
