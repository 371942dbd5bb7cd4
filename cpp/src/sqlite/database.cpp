#include "asap_native/sqlite/database.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <thread>

#include "asap_native/errors.hpp"

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
        throw PathError(ENOENT,
                        "cannot create database '" + path + "': folder '" + folder +
                            "' does not exist",
                        path);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST) return;  // another process created it first
        throw PathError(errno,
                        "cannot create database '" + path + "': " + std::strerror(errno), path);
    }
    ::close(fd);
}

int default_reader_count() {
    const unsigned cores = std::thread::hardware_concurrency();
    return static_cast<int>(std::clamp(cores == 0 ? 2u : cores, 2u, 8u));
}

}  // namespace

Database::Database(std::string path, ConnectionOptions options, const std::string& schema_sql,
                   ConnectionSetup setup, int max_readers)
    : path_(std::move(path)),
      options_(options),
      setup_(std::move(setup)),
      in_memory_(path_ == kMemoryPath),
      max_readers_(max_readers > 0 ? max_readers : default_reader_count()),
      owner_pid_(::getpid()) {
    if (!in_memory_) prepare_database_file(path_);
    writer_ = open_connection();
    if (writer_->is_read_only())
        throw StoreError(StoreErrorKind::ReadOnly, 8 /* SQLITE_READONLY */,
                         "database '" + path_ + "' is read-only: the file cannot be written");
    if (!in_memory_) writer_->execute("PRAGMA journal_mode=WAL");
    if (!schema_sql.empty()) writer_->execute(schema_sql);
}

Database::~Database() = default;

std::unique_ptr<Connection> Database::open_connection() const {
    auto connection = std::make_unique<Connection>(path_, options_);
    if (setup_) setup_(*connection);
    return connection;
}

void Database::ensure_open() {
    if (closed_.load()) throw StoreError(StoreErrorKind::Closed, 0, "the store is closed");
    if (!in_memory_ && owner_pid_ != ::getpid()) reopen_after_fork();
}

void Database::reopen_after_fork() {
    // Connections inherited across fork() must not be used or even closed by the child
    // (closing would drop POSIX locks SQLite believes it holds); leak them and reopen.
    std::lock_guard<std::mutex> lock(readers_mutex_);
    if (owner_pid_ == ::getpid()) return;
    (void)writer_.release();
    for (auto& reader : idle_readers_) (void)reader.release();
    idle_readers_.clear();
    open_readers_ = 0;
    writer_ = open_connection();
    owner_pid_ = ::getpid();
}

Database::ReaderLease::ReaderLease(Database& database) : database_(database) {
    std::unique_lock<std::mutex> lock(database_.readers_mutex_);
    for (;;) {
        if (database_.closed_.load())
            throw StoreError(StoreErrorKind::Closed, 0, "the store is closed");
        if (database_.owner_pid_ != ::getpid()) {
            lock.unlock();
            {
                std::lock_guard<std::mutex> writer_lock(database_.writer_mutex_);
                database_.ensure_open();
            }
            lock.lock();
            continue;
        }
        if (!database_.idle_readers_.empty()) {
            connection_ = std::move(database_.idle_readers_.back());
            database_.idle_readers_.pop_back();
            return;
        }
        if (database_.open_readers_ < database_.max_readers_) {
            ++database_.open_readers_;
            lock.unlock();
            try {
                connection_ = database_.open_connection();
            } catch (...) {
                lock.lock();
                --database_.open_readers_;
                database_.reader_returned_.notify_one();
                throw;
            }
            return;
        }
        database_.reader_returned_.wait(lock);
    }
}

Database::ReaderLease::~ReaderLease() {
    std::lock_guard<std::mutex> lock(database_.readers_mutex_);
    if (database_.closed_.load() || database_.owner_pid_ != ::getpid()) {
        --database_.open_readers_;
        connection_.reset();
    } else {
        database_.idle_readers_.push_back(std::move(connection_));
    }
    database_.reader_returned_.notify_all();
}

void Database::close() {
    std::lock_guard<std::mutex> writer_lock(writer_mutex_);
    std::unique_lock<std::mutex> lock(readers_mutex_);
    if (closed_.exchange(true)) return;
    open_readers_ -= static_cast<int>(idle_readers_.size());
    idle_readers_.clear();
    // Leased readers close themselves when their lease ends (closed_ is set).
    reader_returned_.wait(lock, [&] { return open_readers_ == 0; });
    writer_.reset();
}

bool Database::is_closed() const { return closed_.load(); }

}  // namespace asap_native::sqlite
