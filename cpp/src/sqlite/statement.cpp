#include "asap_native/sqlite/statement.hpp"

#include <sqlite3.h>

#include "asap_native/sqlite/connection.hpp"

namespace asap_native::sqlite {

Statement::Statement(sqlite3* db, std::string_view sql) : db_(db) {
    const char* tail = nullptr;
    const int rc = sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()),
                                      SQLITE_PREPARE_PERSISTENT, &stmt_, &tail);
    if (rc != SQLITE_OK) {
        sqlite3_finalize(stmt_);
        stmt_ = nullptr;
        throw_sqlite_error(db, rc, "prepare");
    }
    if (tail != nullptr)
        tail_ = std::string(sql.substr(static_cast<std::size_t>(tail - sql.data())));
}

Statement::~Statement() { sqlite3_finalize(stmt_); }

void Statement::bind(int index, std::string_view text) {
    const int rc =
        sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_TRANSIENT, SQLITE_UTF8);
    if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, "bind");
}

void Statement::bind_no_copy(int index, const std::string& text) {
    const int rc =
        sqlite3_bind_text64(stmt_, index, text.data(), text.size(), SQLITE_STATIC, SQLITE_UTF8);
    if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, "bind");
}

void Statement::bind(int index, std::int64_t value) {
    const int rc = sqlite3_bind_int64(stmt_, index, value);
    if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, "bind");
}

void Statement::bind_null(int index) {
    const int rc = sqlite3_bind_null(stmt_, index);
    if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, "bind");
}

void Statement::bind(int index, double value) {
    const int rc = sqlite3_bind_double(stmt_, index, value);
    if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, "bind");
}

void Statement::bind_blob(int index, std::string_view bytes) {
    const int rc = sqlite3_bind_blob64(stmt_, index, bytes.data(), bytes.size(), SQLITE_TRANSIENT);
    if (rc != SQLITE_OK) throw_sqlite_error(db_, rc, "bind");
}

int Statement::parameter_count() const { return sqlite3_bind_parameter_count(stmt_); }

std::string_view Statement::parameter_name(int index) const {
    const char* name = sqlite3_bind_parameter_name(stmt_, index);
    return name ? std::string_view(name) : std::string_view();
}

bool Statement::read_only() const { return stmt_ == nullptr || sqlite3_stmt_readonly(stmt_) != 0; }

bool Statement::step() {
    if (stmt_ == nullptr) return false;
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    throw_sqlite_error(db_, rc, "step");
}

void Statement::run() {
    while (step()) {
    }
}

std::string_view Statement::column_text(int index) const {
    const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt_, index));
    const int size = sqlite3_column_bytes(stmt_, index);
    return text ? std::string_view(text, static_cast<std::size_t>(size)) : std::string_view();
}

std::int64_t Statement::column_int64(int index) const { return sqlite3_column_int64(stmt_, index); }

bool Statement::column_is_null(int index) const {
    return sqlite3_column_type(stmt_, index) == SQLITE_NULL;
}

int Statement::column_type(int index) const { return sqlite3_column_type(stmt_, index); }

double Statement::column_double(int index) const { return sqlite3_column_double(stmt_, index); }

std::string_view Statement::column_blob(int index) const {
    const void* bytes = sqlite3_column_blob(stmt_, index);
    const int size = sqlite3_column_bytes(stmt_, index);
    return bytes ? std::string_view(static_cast<const char*>(bytes), static_cast<std::size_t>(size))
                 : std::string_view();
}

int Statement::column_count() const { return stmt_ ? sqlite3_column_count(stmt_) : 0; }

std::string_view Statement::column_name(int index) const {
    const char* name = sqlite3_column_name(stmt_, index);
    return name ? std::string_view(name) : std::string_view();
}

void Statement::reset() noexcept {
    if (stmt_ == nullptr) return;
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
}

}  // namespace asap_native::sqlite
