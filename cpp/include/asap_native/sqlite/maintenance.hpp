// Looking after a database file: what it holds, whether it is sound and fits asap-protocol's
// stores, and an online copy of it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace asap_native::sqlite {

class Connection;

/// A table and how many rows it holds.
struct TableRows {
    std::string name;
    std::int64_t rows = 0;
};

/// What a database holds, read in one transaction.
struct DatabaseInfo {
    std::vector<TableRows> tables;     ///< every table but SQLite's own, by name
    std::vector<std::string> indexes;  ///< every named index (not SQLite's automatic ones)
    std::int64_t page_size = 0;
    std::int64_t page_count = 0;
    std::int64_t freelist_pages = 0;  ///< pages free for reuse (VACUUM returns them)
    std::string journal_mode;
};
DatabaseInfo database_info(Connection& connection);

/// How the file's schema suits asap-protocol's stores (and so these).
struct SchemaReport {
    /// What stops asap-protocol's stores from reading or writing their tables in this file
    /// as they do in their own: a missing or differently declared column, another primary
    /// key, a column they do not fill that must be filled, an index or trigger that calls a
    /// function only this library registers.
    std::vector<std::string> problems;
    /// The rest worth knowing: a table not created yet, an index missing or different, this
    /// library's own index.
    std::vector<std::string> notes;
    bool compatible() const { return problems.empty(); }
};
SchemaReport asap_schema_report(Connection& connection);

/// PRAGMA integrity_check (quick_check when `quick`: no index-against-table checks) up to
/// `max_errors` problems; empty when the file is sound. A file too damaged to be read at all
/// throws StoreError (NotADatabase).
std::vector<std::string> integrity_errors(Connection& connection, bool quick, int max_errors);

/// Called after each step of a backup with the pages copied so far and the total.
using BackupProgress = std::function<void(std::int64_t copied, std::int64_t total)>;

/// Copies the database `source` reads into a new file `dest_path` (created readable by its
/// owner only; PathError EEXIST when it exists) with SQLite's online backup API, in steps of
/// `pages_per_step` pages. The copy is the database as of one read transaction held for the
/// whole backup: writers on other connections go on meanwhile (WAL) and none of their later
/// commits is in it, nor half of one. On failure the partial copy is removed.
void backup_database(Connection& source, const std::string& dest_path, int pages_per_step,
                     const BackupProgress& progress);

}  // namespace asap_native::sqlite
