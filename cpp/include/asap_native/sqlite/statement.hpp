// RAII wrapper for one prepared SQLite statement.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

struct sqlite3;
struct sqlite3_stmt;

namespace asap_native::sqlite {

/// A prepared statement, finalized on destruction. Prepared once and reused: call reset()
/// (or use a Statement::Use guard) between executions.
class Statement {
public:
    /// Prepares the first statement of `sql`; a copy of what follows it is kept as tail().
    Statement(sqlite3* db, std::string_view sql);
    ~Statement();
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    /// Binds a copy of `text` to the 1-based parameter `index`.
    void bind(int index, std::string_view text);
    /// Binds `text` without copying it: it must stay alive and unchanged until the statement
    /// is reset (a Statement::Use scope ends). A temporary cannot be passed.
    void bind_no_copy(int index, const std::string& text);
    void bind_no_copy(int index, std::string&& text) = delete;
    /// Binds a 64-bit integer to the 1-based parameter `index`.
    void bind(int index, std::int64_t value);
    /// Binds NULL to the 1-based parameter `index`.
    void bind_null(int index);
    /// Binds a double to the 1-based parameter `index`.
    void bind(int index, double value);
    /// Binds a copy of `bytes` as a BLOB to the 1-based parameter `index`.
    void bind_blob(int index, std::string_view bytes);

    /// How many parameters the statement has (the largest index).
    int parameter_count() const;
    /// The name of parameter `index` with its prefix (":name"), or "" for a nameless `?`.
    std::string_view parameter_name(int index) const;
    /// True when the statement does not write to the database (sqlite3_stmt_readonly).
    bool read_only() const;
    /// False when `sql` held only white space and comments: nothing to run.
    bool empty() const { return stmt_ == nullptr; }
    /// The text after the first statement of `sql` (often empty).
    std::string_view tail() const { return tail_; }

    /// Executes one step: true when a row is ready, false when done; throws StoreError on failure.
    bool step();
    /// Steps to completion, for statements that return no rows.
    void run();

    /// Text of column `index` of the current row (valid until the next step or reset).
    std::string_view column_text(int index) const;
    /// Integer value of column `index` of the current row.
    std::int64_t column_int64(int index) const;
    /// True when column `index` of the current row is NULL.
    bool column_is_null(int index) const;
    /// SQLITE_INTEGER, SQLITE_FLOAT, SQLITE_TEXT, SQLITE_BLOB or SQLITE_NULL.
    int column_type(int index) const;
    /// Floating-point value of column `index` of the current row.
    double column_double(int index) const;
    /// Bytes of BLOB column `index` of the current row (valid until the next step or reset).
    std::string_view column_blob(int index) const;
    /// Number of columns the statement returns (0 for one that returns no rows).
    int column_count() const;
    /// The name of column `index`.
    std::string_view column_name(int index) const;

    /// Makes the statement ready to run again and clears its bindings.
    void reset() noexcept;

    /// Resets the statement when the scope ends, even on an exception.
    class Use {
    public:
        explicit Use(Statement& statement) : statement_(statement) {}
        ~Use() { statement_.reset(); }
        Use(const Use&) = delete;
        Use& operator=(const Use&) = delete;
        Statement* operator->() { return &statement_; }

    private:
        Statement& statement_;
    };

private:
    sqlite3* db_;
    sqlite3_stmt* stmt_ = nullptr;
    // A copy: a cached statement outlives the text it was prepared from.
    std::string tail_;
};

}  // namespace asap_native::sqlite
