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
};

}  // namespace asap_native::sqlite
