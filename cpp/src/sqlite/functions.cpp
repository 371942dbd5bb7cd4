#include "asap_native/sqlite/functions.hpp"

#include <sqlite3.h>

#include <string_view>

#include "asap_native/sqlite/connection.hpp"
#include "asap_native/timestamp.hpp"

namespace asap_native::sqlite {
namespace {

void asap_instant(sqlite3_context* context, int, sqlite3_value** args) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(args[0]));
    if (text == nullptr) {
        sqlite3_result_null(context);
        return;
    }
    const auto size = static_cast<std::size_t>(sqlite3_value_bytes(args[0]));
    if (auto instant = parse_iso8601(std::string_view(text, size)))
        sqlite3_result_int64(context, *instant);
    else
        sqlite3_result_null(context);
}

}  // namespace

void register_library_functions(Connection& connection) {
    const int rc = sqlite3_create_function_v2(connection.handle(), "asap_instant", 1,
                                              SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS,
                                              nullptr, asap_instant, nullptr, nullptr, nullptr);
    if (rc != SQLITE_OK) throw_sqlite_error(connection.handle(), rc, "create function");
}

}  // namespace asap_native::sqlite
