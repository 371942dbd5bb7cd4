// Keeps SQLite usable (or clearly unusable) in a child process after fork().
#pragma once

#include <string>

namespace asap_native::sqlite {

class Database;

/// SQLite connections must not cross fork(): the child inherits their in-process lock
/// bookkeeping (shared by every connection to a file) without the fcntl() locks behind it, so
/// its own new connections would skip real locking and could write to a WAL the parent then
/// deletes. The guard therefore, around every fork():
/// - before: stops other threads from being inside SQLite's VFS (its global mutex) and notes
///   which databases have a connection in use;
/// - in the child: closes the inherited connections of every idle database properly (which
///   only drops the child's own locks, i.e. none), so stores reopen cleanly on first use;
///   a database that was in use cannot be cleaned up, so it and every other database on the
///   same file refuse to work in the child with a clear StoreError instead.
class ForkGuard {
public:
    /// Registers a database (installs the fork handlers on first use).
    static void add(Database* database);
    /// Unregisters a database.
    static void remove(Database* database);
    /// In a forked child: throws StoreError when `path` was in use by another thread at fork().
    static void check_usable(const std::string& path);
};

}  // namespace asap_native::sqlite
