#include "asap_native/sqlite/sql_runner.hpp"

#include <sqlite3.h>

#include <cctype>

#include "asap_native/errors.hpp"
#include "asap_native/sqlite/connection.hpp"
#include "asap_native/sqlite/statement.hpp"

namespace asap_native::sqlite {
namespace {

// True when `text` holds only white space and comments (a ';' is another statement, as
// Python's sqlite3 sees it).
bool only_comments(std::string_view text) {
    std::size_t i = 0;
    while (i < text.size()) {
        if (std::isspace(static_cast<unsigned char>(text[i]))) {
            ++i;
        } else if (text.substr(i, 2) == "--") {
            const std::size_t end = text.find('\n', i);
            i = end == std::string_view::npos ? text.size() : end + 1;
        } else if (text.substr(i, 2) == "/*") {
            const std::size_t end = text.find("*/", i + 2);
            if (end == std::string_view::npos) return true;  // SQLite ignores it too
            i = end + 2;
        } else {
            return false;
        }
    }
    return true;
}

void bind_value(Statement& statement, int index, const SqlValue& value) {
    struct Bind {
        Statement& statement;
        int index;
        void operator()(std::monostate) const { statement.bind_null(index); }
        void operator()(std::int64_t number) const { statement.bind(index, number); }
        void operator()(double number) const { statement.bind(index, number); }
        void operator()(const std::string& text) const {
            statement.bind(index, std::string_view(text));
        }
        void operator()(const SqlBlob& blob) const { statement.bind_blob(index, blob.bytes); }
    };
    std::visit(Bind{statement, index}, value);
}

void bind_parameters(Statement& statement, const SqlParameters& parameters) {
    const int count = statement.parameter_count();
    if (parameters.by_name) {
        for (int index = 1; index <= count; ++index) {
            const std::string_view name = statement.parameter_name(index);
            if (name.empty())
                throw SqlUsageError("Binding " + std::to_string(index) +
                                    " has no name, but you supplied a dictionary (which has only "
                                    "names).");
            auto found = parameters.named.find(std::string(name.substr(1)));
            // sqlite3 names it with a colon whatever its prefix (`@name`, `$name`).
            if (found == parameters.named.end())
                throw SqlUsageError("You did not supply a value for binding parameter :" +
                                    std::string(name.substr(1)) + ".");
            bind_value(statement, index, found->second);
        }
        return;
    }
    const auto supplied = static_cast<int>(parameters.positional.size());
    if (supplied != count)
        throw SqlUsageError("Incorrect number of bindings supplied. The current statement uses " +
                            std::to_string(count) + ", and there are " + std::to_string(supplied) +
                            " supplied.");
    for (int index = 1; index <= count; ++index)
        bind_value(statement, index, parameters.positional[static_cast<std::size_t>(index - 1)]);
}

SqlValue column_value(const Statement& statement, int index) {
    switch (statement.column_type(index)) {
        case SQLITE_INTEGER:
            return statement.column_int64(index);
        case SQLITE_FLOAT:
            return statement.column_double(index);
        case SQLITE_TEXT:
            return std::string(statement.column_text(index));
        case SQLITE_BLOB:
            return SqlBlob{std::string(statement.column_blob(index))};
        default:
            return std::monostate{};
    }
}

}  // namespace

SqlResult run_sql(Connection& connection, const std::string& sql, const SqlParameters& parameters) {
    std::shared_ptr<Statement> statement = connection.user_statement(sql);
    if (!only_comments(statement->tail()))
        throw SqlUsageError("You can only execute one statement at a time.");
    Statement::Use use(*statement);
    bind_parameters(*statement, parameters);
    if (parameters.last_insert_rowid)
        connection.set_last_insert_rowid(*parameters.last_insert_rowid);
    // Columns are read after the first step: a cached statement whose tables changed since it
    // was prepared (ALTER TABLE, here or on another connection) is prepared again by that
    // step, and only then describes the tables as they are.
    bool has_row = statement->step();
    SqlResult result;
    const int columns = statement->column_count();
    result.columns.reserve(static_cast<std::size_t>(columns));
    for (int i = 0; i < columns; ++i) result.columns.emplace_back(statement->column_name(i));
    for (; has_row; has_row = statement->step()) {
        std::vector<SqlValue> row;
        row.reserve(static_cast<std::size_t>(columns));
        for (int i = 0; i < columns; ++i) row.push_back(column_value(*statement, i));
        result.rows.push_back(std::move(row));
    }
    if (is_dml(sql)) result.rowcount = connection.changes();
    result.lastrowid = connection.last_insert_rowid();
    return result;
}

void run_script(Connection& connection, const std::string& script) { connection.execute(script); }

}  // namespace asap_native::sqlite
