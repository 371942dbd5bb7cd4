#include "asap_native/sqlite/fork_guard.hpp"

#include <pthread.h>
#include <sqlite3.h>

#include <mutex>
#include <set>

#include "asap_native/errors.hpp"
#include "asap_native/sqlite/database.hpp"

namespace asap_native::sqlite {
namespace {

struct Registry {
    std::mutex mutex;
    std::set<Database*> databases;
    std::set<std::string> unusable_paths;  // in a child: files in use at fork()
    sqlite3_mutex* vfs_mutex = nullptr;
};

Registry& registry() {
    static Registry* instance = new Registry();  // leaked: fork handlers outlive statics
    return *instance;
}

void before_fork() {
    Registry& r = registry();
    r.mutex.lock();
    for (Database* database : r.databases) database->before_fork();
    // No other thread may be inside SQLite's unix VFS (it holds this mutex there) at fork().
    r.vfs_mutex = sqlite3_mutex_alloc(SQLITE_MUTEX_STATIC_VFS1);
    if (r.vfs_mutex != nullptr) sqlite3_mutex_enter(r.vfs_mutex);
}

void after_fork_in_parent() {
    Registry& r = registry();
    if (r.vfs_mutex != nullptr) sqlite3_mutex_leave(r.vfs_mutex);
    for (Database* database : r.databases) database->after_fork(/*in_child=*/false, false);
    r.mutex.unlock();
}

void after_fork_in_child() {
    Registry& r = registry();
    if (r.vfs_mutex != nullptr) sqlite3_mutex_leave(r.vfs_mutex);  // closing needs it
    std::set<std::string> busy;
    for (Database* database : r.databases)
        if (database->was_busy_at_fork()) busy.insert(database->path());
    for (Database* database : r.databases)
        database->after_fork(/*in_child=*/true, busy.count(database->path()) > 0);
    r.unusable_paths.insert(busy.begin(), busy.end());
    r.mutex.unlock();
}

}  // namespace

void ForkGuard::add(Database* database) {
    static const bool installed =
        pthread_atfork(before_fork, after_fork_in_parent, after_fork_in_child) == 0;
    (void)installed;
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.databases.insert(database);
}

void ForkGuard::remove(Database* database) {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    r.databases.erase(database);
}

void ForkGuard::check_usable(const std::string& path) {
    Registry& r = registry();
    std::lock_guard<std::mutex> lock(r.mutex);
    if (r.unusable_paths.count(path) > 0)
        throw StoreError(StoreErrorKind::Other, 0,
                         "database '" + path +
                             "' was in use by another thread when this process was forked; "
                             "SQLite cannot be used safely on it in the child process");
}

}  // namespace asap_native::sqlite
