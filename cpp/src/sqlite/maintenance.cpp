#include "asap_native/sqlite/maintenance.hpp"

#include <fcntl.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <thread>

#include "asap_native/errors.hpp"
#include "asap_native/sql.hpp"
#include "asap_native/sqlite/connection.hpp"
#include "asap_native/sqlite/statement.hpp"
#include "asap_native/sqlite_metering_store.hpp"
#include "asap_native/sqlite_snapshot_store.hpp"
#include "asap_native/usage_index.hpp"

namespace asap_native::sqlite {
namespace {

// A read transaction for the scope: every statement in it sees one state of the database.
class ReadTransaction {
public:
    explicit ReadTransaction(Connection& connection) : connection_(connection) {
        if (connection.in_transaction()) return;  // the caller's already
        connection.execute("BEGIN");
        open_ = true;
        try {
            connection.execute("SELECT count(*) FROM sqlite_master");  // takes the snapshot
        } catch (...) {
            end();
            throw;
        }
    }
    ~ReadTransaction() { end(); }
    ReadTransaction(const ReadTransaction&) = delete;
    ReadTransaction& operator=(const ReadTransaction&) = delete;

private:
    void end() noexcept {
        if (!open_) return;
        open_ = false;
        try {
            connection_.execute("COMMIT");
        } catch (...) {
        }
    }
    Connection& connection_;
    bool open_ = false;
};

std::string quoted(const std::string& name) { return sql_quoted(name, '"'); }

std::string lower(std::string text) {
    for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text;
}

std::int64_t pragma_integer(Connection& connection, const std::string& pragma) {
    Statement statement(connection.handle(), "PRAGMA " + pragma);
    return statement.step() ? statement.column_int64(0) : 0;
}

struct ColumnFound {
    std::string name;
    std::string type;
    bool not_null;
    bool has_default;
    int primary_key;
};

std::vector<ColumnFound> columns_of(Connection& connection, const std::string& table) {
    Statement info(connection.handle(), "PRAGMA table_info(" + quoted(table) + ")");
    std::vector<ColumnFound> columns;
    while (info.step())
        columns.push_back({std::string(info.column_text(1)), std::string(info.column_text(2)),
                           info.column_int64(3) != 0, !info.column_is_null(4),
                           static_cast<int>(info.column_int64(5))});
    return columns;
}

std::vector<std::string> index_columns(Connection& connection, const std::string& index) {
    Statement info(connection.handle(), "PRAGMA index_info(" + quoted(index) + ")");
    std::vector<std::string> columns;
    while (info.step())
        columns.emplace_back(info.column_is_null(2) ? "<expression>"
                                                    : std::string(info.column_text(2)));
    return columns;
}

// The primary key's columns (lower case), in key order.
std::vector<std::string> primary_key(const std::vector<ColumnFound>& columns) {
    std::vector<std::pair<int, std::string>> parts;
    for (const ColumnFound& c : columns)
        if (c.primary_key > 0) parts.emplace_back(c.primary_key, lower(c.name));
    std::sort(parts.begin(), parts.end());
    std::vector<std::string> key;
    for (const auto& part : parts) key.push_back(part.second);
    return key;
}

std::string joined(const std::vector<std::string>& parts) {
    std::string out;
    for (const std::string& part : parts) out += (out.empty() ? "" : ", ") + part;
    return out;
}

// The indexes of `table` created by SQL (not by a PRIMARY KEY or UNIQUE constraint).
std::vector<std::string> declared_indexes(Connection& connection, const std::string& table) {
    Statement names(connection.handle(),
                    "SELECT name FROM sqlite_master WHERE tbl_name = ?1 AND type = 'index' AND "
                    "sql IS NOT NULL ORDER BY name");
    names.bind(1, table);
    std::vector<std::string> indexes;
    while (names.step()) indexes.emplace_back(names.column_text(0));
    return indexes;
}

// Compares `table` in the file with the same table in `reference` (asap-protocol's DDL run
// on an empty database).
void check_table(Connection& connection, Connection& reference, const std::string& table,
                 SchemaReport& report) {
    const std::vector<ColumnFound> found = columns_of(connection, table);
    if (found.empty()) {
        report.notes.push_back("no " + table + " table yet (the store that uses it creates it)");
        return;
    }
    const std::vector<ColumnFound> wanted = columns_of(reference, table);
    auto declared = [&](const std::string& name) {
        return std::find_if(wanted.begin(), wanted.end(),
                            [&](const ColumnFound& c) { return c.name == lower(name); });
    };
    for (const ColumnFound& column : wanted) {
        auto match = std::find_if(found.begin(), found.end(), [&](const ColumnFound& f) {
            return lower(f.name) == column.name;
        });
        if (match == found.end()) {
            report.problems.push_back(table + ": column '" + column.name + "' is missing");
            continue;
        }
        if (lower(match->type) != lower(column.type))
            report.problems.push_back(table + ": column '" + column.name + "' is declared '" +
                                      match->type + "', asap-protocol declares " + column.type);
        if (column.not_null && !match->not_null)
            report.notes.push_back(table + ": column '" + column.name +
                                   "' accepts NULL (asap-protocol declares it NOT NULL)");
    }
    for (const ColumnFound& f : found)
        if (declared(f.name) == wanted.end() && f.not_null && !f.has_default)
            report.problems.push_back(table + ": column '" + f.name +
                                      "' must be filled (NOT NULL, no default), and "
                                      "asap-protocol's inserts do not fill it");
    const std::vector<std::string> found_key = primary_key(found);
    const std::vector<std::string> wanted_key = primary_key(wanted);
    if (found_key != wanted_key)
        report.problems.push_back(table + ": the primary key is (" + joined(found_key) +
                                  "), asap-protocol's is (" + joined(wanted_key) + ")");
    for (const std::string& index : declared_indexes(reference, table)) {
        const std::vector<std::string> have = index_columns(connection, index);
        const std::vector<std::string> want = index_columns(reference, index);
        if (have.empty())
            report.notes.push_back(table + ": index " + index +
                                   " is missing (asap-protocol's stores and asap-native create "
                                   "it when they open the file)");
        else if (have != want)
            report.notes.push_back(table + ": index " + index + " is on (" + joined(have) +
                                   "), asap-protocol's is on (" + joined(want) + ")");
    }
    // Indexes and triggers run by every insert: none may need a function only we register.
    Statement objects(connection.handle(),
                      "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = ?1 AND "
                      "type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY name");
    objects.bind(1, table);
    while (objects.step()) {
        const std::string type(objects.column_text(0));
        const std::string name(objects.column_text(1));
        const std::string sql = lower(std::string(objects.column_text(2)));
        if (sql.find("asap_instant") != std::string::npos)
            report.problems.push_back(table + ": " + type + " " + name +
                                      " calls asap_instant(), which only asap-native registers: "
                                      "asap-protocol cannot write this table");
        else if (name == kInstantIndexName)
            report.notes.push_back(table + ": index " + name +
                                   " is asap-native's instant index (SQLite's own functions "
                                   "only: asap-protocol maintains it as it inserts)");
        else if (type == "trigger")
            report.notes.push_back(table + ": trigger " + name + " runs on changes");
    }
}

// The file named `path`, created empty and owner-only; PathError when it cannot be.
void create_exclusive(const std::string& path) {
    if (path.empty()) throw InvalidArgument("the backup path must not be empty");
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        throw PathError(errno,
                        errno == EEXIST
                            ? "cannot back up to '" + path + "': the file exists"
                            : "cannot create '" + path + "': " + std::string(std::strerror(errno)),
                        path);
    ::close(fd);
}

void remove_copy(const std::string& path) {
    for (const char* suffix : {"", "-journal", "-wal", "-shm"}) ::unlink((path + suffix).c_str());
}

}  // namespace

DatabaseInfo database_info(Connection& connection) {
    ReadTransaction transaction(connection);
    DatabaseInfo info;
    std::vector<std::string> tables;
    {
        Statement names(connection.handle(),
                        "SELECT type, name FROM sqlite_master WHERE type IN ('table', 'index') "
                        "AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name");
        while (names.step()) {
            if (names.column_text(0) == "table")
                tables.emplace_back(names.column_text(1));
            else
                info.indexes.emplace_back(names.column_text(1));
        }
    }
    for (const std::string& table : tables) {
        Statement count(connection.handle(), "SELECT count(*) FROM " + quoted(table));
        count.step();
        info.tables.push_back({table, count.column_int64(0)});
    }
    info.page_size = pragma_integer(connection, "page_size");
    info.page_count = pragma_integer(connection, "page_count");
    info.freelist_pages = pragma_integer(connection, "freelist_count");
    Statement mode(connection.handle(), "PRAGMA journal_mode");
    if (mode.step()) info.journal_mode = std::string(mode.column_text(0));
    return info;
}

SchemaReport asap_schema_report(Connection& connection) {
    ReadTransaction transaction(connection);
    SchemaReport report;
    Connection reference(":memory:", ConnectionOptions{});
    reference.execute(sqlite_snapshot_schema());
    reference.execute(sqlite_metering_schema());
    for (const char* table : {"snapshots", "usage_events"})
        check_table(connection, reference, table, report);
    return report;
}

std::vector<std::string> integrity_errors(Connection& connection, bool quick, int max_errors) {
    const std::string pragma = std::string(quick ? "quick_check" : "integrity_check") + "(" +
                               std::to_string(std::max(1, max_errors)) + ")";
    Statement check(connection.handle(), "PRAGMA " + pragma);
    std::vector<std::string> errors;
    while (check.step()) {
        std::string line(check.column_text(0));
        if (line != "ok") errors.push_back(std::move(line));
    }
    return errors;
}

void backup_database(Connection& source, const std::string& dest_path, int pages_per_step,
                     const BackupProgress& progress) {
    create_exclusive(dest_path);
    sqlite3* dest = nullptr;
    try {
        int rc = sqlite3_open_v2(dest_path.c_str(), &dest, SQLITE_OPEN_READWRITE, nullptr);
        if (rc != SQLITE_OK) throw_sqlite_error(dest, rc, "open backup '" + dest_path + "'");
        // One read transaction for every step: the copy is one state of the database, and
        // other connections' commits do not restart it.
        ReadTransaction transaction(source);
        // Finished on every way out: an unfinished backup keeps `dest` from closing.
        struct FinishBackup {
            void operator()(sqlite3_backup* unfinished) const { sqlite3_backup_finish(unfinished); }
        };
        std::unique_ptr<sqlite3_backup, FinishBackup> backup(
            sqlite3_backup_init(dest, "main", source.handle(), "main"));
        if (!backup) throw_sqlite_error(dest, sqlite3_errcode(dest), "backup");
        const int step_pages = pages_per_step > 0 ? pages_per_step : -1;
        for (;;) {
            rc = sqlite3_backup_step(backup.get(), step_pages);
            if (progress && (rc == SQLITE_OK || rc == SQLITE_DONE)) {
                const std::int64_t total = sqlite3_backup_pagecount(backup.get());
                progress(total - sqlite3_backup_remaining(backup.get()), total);
            }
            if (rc == SQLITE_DONE) break;
            if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                continue;
            }
            if (rc != SQLITE_OK) break;
        }
        const int finished = sqlite3_backup_finish(backup.release());
        if (rc != SQLITE_DONE) throw_sqlite_error(dest, rc == SQLITE_OK ? finished : rc, "backup");
        if (finished != SQLITE_OK) throw_sqlite_error(dest, finished, "backup");
        rc = sqlite3_close(dest);
        dest = nullptr;
        if (rc != SQLITE_OK) throw StoreError(StoreError::kind_for_code(rc), rc, "close backup");
    } catch (...) {
        if (dest != nullptr) sqlite3_close_v2(dest);
        remove_copy(dest_path);
        throw;
    }
}

}  // namespace asap_native::sqlite
