#include "asap_native/sqlite/database.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "asap_native/errors.hpp"
#include "asap_native/executor.hpp"
#include "asap_native/process_generation.hpp"
#include "asap_native/sqlite/fork_guard.hpp"
#include "asap_native/sqlite/savepoint.hpp"
#include "asap_native/sqlite/statement.hpp"
#include "asap_native/sqlite/transaction.hpp"

namespace asap_native::sqlite {
namespace {

constexpr const char* kMemoryPath = ":memory:";

std::string parent_folder(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

// Checks the path up front so that the user gets "is a directory" rather than SQLite's
// "unable to open database file", and creates a new file readable by its owner only
// (SQLite gives the -wal and -shm files the same mode).
void prepare_database_file(const std::string& path) {
    if (path.empty()) throw InvalidArgument("db_path must not be empty");
    if (path.find('\0') != std::string::npos)
        throw InvalidArgument("db_path must not contain NUL characters");
    struct stat info {};
    if (::stat(path.c_str(), &info) == 0) {
        if (S_ISDIR(info.st_mode))
            throw PathError(EISDIR, "db_path '" + path + "' is a directory, not a database file",
                            path);
        return;
    }
    if (errno != ENOENT)
        throw PathError(errno, "cannot use db_path '" + path + "': " + std::strerror(errno), path);
    const std::string folder = parent_folder(path);
    struct stat folder_info {};
    if (::stat(folder.c_str(), &folder_info) != 0 || !S_ISDIR(folder_info.st_mode))
        throw PathError(
            ENOENT, "cannot create database '" + path + "': folder '" + folder + "' does not exist",
            path);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) return;  // another process created it first
        throw PathError(errno, "cannot create database '" + path + "': " + std::strerror(errno),
                        path);
    }
    ::close(fd);
}

// For a database opened read-only: the file must exist (and not be a directory).
void require_database_file(const std::string& path) {
    if (path.empty()) throw InvalidArgument("db_path must not be empty");
    if (path.find('\0') != std::string::npos)
        throw InvalidArgument("db_path must not contain NUL characters");
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0)
        throw PathError(errno, "cannot open database '" + path + "': " + std::strerror(errno),
                        path);
    if (S_ISDIR(info.st_mode))
        throw PathError(EISDIR, "db_path '" + path + "' is a directory, not a database file", path);
}

// A connection for each executor reader thread, and as many for callers of the sync API.
int default_reader_count() { return 2 * default_executor_readers(); }

}  // namespace

Database::Database(std::string path, ConnectionOptions options, const std::string& schema_sql,
                   ConnectionSetup setup, int max_readers)
    : path_(std::move(path)),
      options_(options),
      setup_(std::move(setup)),
      in_memory_(path_ == kMemoryPath),
      max_readers_(max_readers > 0 ? max_readers : default_reader_count()) {
    if (!in_memory_) {
        ForkGuard::check_usable(path_);
        if (options_.read_only)
            require_database_file(path_);
        else
            prepare_database_file(path_);
    }
    auto state = std::make_unique<State>();
    state->generation = process_generation();
    state->writer = open_connection();
    if (!options_.read_only) {
        if (state->writer->is_read_only())
            throw StoreError(StoreErrorKind::ReadOnly, 8 /* SQLITE_READONLY */,
                             "database '" + path_ + "' is read-only: the file cannot be written");
        if (!in_memory_) state->writer->execute("PRAGMA journal_mode=WAL");
        if (!schema_sql.empty()) state->writer->execute(schema_sql);
    }
    state_.store(state.release());
    ForkGuard::add(this);
}

Database::~Database() {
    ForkGuard::remove(this);
    State* state = state_.load();
    if (state != nullptr && state->generation == process_generation()) delete state;
    // In a forked child the state (and its parent-owned connections) is leaked on purpose.
}

std::unique_ptr<Connection> Database::open_connection() const {
    auto connection = std::make_unique<Connection>(path_, options_);
    if (setup_) setup_(*connection);
    return connection;
}

Database::State& Database::current_state() {
    if (unusable_in_child_.load())
        throw StoreError(StoreErrorKind::Other, 0,
                         "database '" + path_ +
                             "' was in use by another thread when this process was forked; "
                             "SQLite cannot be used safely on it in the child process");
    State* state = state_.load(std::memory_order_acquire);
    if (state->generation == process_generation() || in_memory_) return *state;
    // A forked child: ForkGuard closed the inherited connections; start with fresh locks.
    static std::mutex fork_mutex;
    std::lock_guard<std::mutex> lock(fork_mutex);
    state = state_.load(std::memory_order_acquire);
    if (state->generation == process_generation()) return *state;
    auto fresh = std::make_unique<State>();
    fresh->generation = process_generation();
    if (!closed_.load()) fresh->writer = open_connection();
    State* installed = fresh.release();
    state_.store(installed, std::memory_order_release);
    return *installed;
}

void Database::ensure_open(const State& state) const {
    if (closed_.load() || !state.writer) throw store_closed_error();
}

Database::Pool::Lease Database::lease_reader() {
    Pool& readers = current_state().readers;
    return Pool::Lease(readers, readers.acquire(
                                    closed_, max_readers_, [this] { return open_connection(); },
                                    [](Connection&) { return true; }));
}

std::vector<std::exception_ptr> Database::run_batch(
    const std::vector<const BatchStep<Connection>*>& steps) {
    std::vector<std::exception_ptr> errors(steps.size());
    if (steps.empty()) return errors;
    try {
        with_writer([&](Connection& connection) {
            Transaction transaction(connection);
            if (steps.size() == 1) {
                try {
                    (*steps[0])(connection);
                } catch (...) {
                    errors[0] = std::current_exception();
                    return;  // ~Transaction rolls back what the step wrote before it threw
                }
            } else {
                for (std::size_t i = 0; i < steps.size(); ++i) {
                    Savepoint step(connection, "group_commit_step");
                    try {
                        (*steps[i])(connection);
                    } catch (...) {
                        errors[i] = std::current_exception();
                        // If SQLite cannot roll back to the savepoint, the whole transaction
                        // is lost; the exception escapes and fails every step.
                        step.rollback();
                        continue;
                    }
                    step.release();
                }
            }
            transaction.commit();
        });
    } catch (...) {
        const std::exception_ptr failure = std::current_exception();
        for (auto& error : errors)
            if (!error) error = failure;
    }
    return errors;
}

void Database::before_fork() {
    State& state = *state_.load();
    fork_locked_writer_ = state.writer_mutex.try_lock();
    const bool readers_idle = state.readers.lock_for_fork(fork_locked_readers_);
    busy_at_fork_ = !fork_locked_writer_ || !readers_idle;
}

void Database::after_fork(bool in_child, bool file_busy) {
    State& state = *state_.load();
    const bool usable = !busy_at_fork_ && !(in_child && file_busy);
    if (in_child && !usable) {
        // Locks held by threads that do not exist here stay locked; nothing touches them.
        unusable_in_child_.store(true);
        return;
    }
    if (in_child && !in_memory_) {
        // Nobody was using these connections: closing them in the child releases only the
        // child's own (absent) locks and leaves SQLite's bookkeeping clean for new ones.
        state.readers.forget_all([](std::unique_ptr<Connection>) {});  // closed here
        state.writer.reset();
    }
    if (fork_locked_readers_) state.readers.unlock_after_fork();
    if (fork_locked_writer_) state.writer_mutex.unlock();
    fork_locked_readers_ = fork_locked_writer_ = false;
}

void Database::close() {
    if (unusable_in_child_.load()) {
        closed_.store(true);
        return;
    }
    State& state = current_state();
    std::lock_guard<std::mutex> writer_lock(state.writer_mutex);
    if (closed_.exchange(true)) return;
    // Leased readers come back when their call ends; wait for all of them.
    state.readers.close_all();
    state.writer.reset();
}

bool Database::is_closed() const { return closed_.load(); }

}  // namespace asap_native::sqlite
