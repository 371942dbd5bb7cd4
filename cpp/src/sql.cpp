#include "asap_native/sql.hpp"

#include <cctype>
#include <cstring>

namespace asap_native {

bool is_dml(const std::string& sql) {
    std::size_t i = 0;
    const std::size_t n = sql.size();
    // Skip white space and comments, as CPython's sqlite3 does (Modules/_sqlite/statement.c).
    for (;;) {
        while (i < n && std::isspace(static_cast<unsigned char>(sql[i]))) ++i;
        if (i + 1 < n && sql[i] == '-' && sql[i + 1] == '-') {
            while (i < n && sql[i] != '\n') ++i;
            continue;
        }
        if (i + 1 < n && sql[i] == '/' && sql[i + 1] == '*') {
            const std::size_t end = sql.find("*/", i + 2);
            if (end == std::string::npos) return false;
            i = end + 2;
            continue;
        }
        break;
    }
    for (const char* keyword : {"INSERT", "UPDATE", "DELETE", "REPLACE"}) {
        const std::size_t length = std::strlen(keyword);
        if (n - i < length) continue;
        bool same = true;
        for (std::size_t k = 0; k < length && same; ++k)
            same = std::toupper(static_cast<unsigned char>(sql[i + k])) == keyword[k];
        if (same) return true;
    }
    return false;
}

std::string sql_quoted(const std::string& text, char quote) {
    std::string out(1, quote);
    for (char c : text) {
        if (c == quote) out += quote;
        out += c;
    }
    return out + quote;
}

}  // namespace asap_native
