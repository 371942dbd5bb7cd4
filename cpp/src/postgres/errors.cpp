#include "asap_native/postgres/errors.hpp"

#include <libpq-fe.h>

namespace asap_native::pg {
namespace {

bool contains(std::string_view text, std::string_view part) {
    return text.find(part) != std::string_view::npos;
}

}  // namespace

std::string one_line(std::string_view message) {
    std::string out;
    out.reserve(message.size());
    bool space = false;
    for (char c : message) {
        if (c == '\n' || c == '\t' || c == '\r') {
            space = true;
            continue;
        }
        if (space && !out.empty() && out.back() != ' ') out.push_back(' ');
        space = false;
        out.push_back(c);
    }
    return out;
}

StoreErrorKind kind_for_sqlstate(std::string_view s) noexcept {
    if (s.size() != 5) return StoreErrorKind::Other;
    const std::string_view cls = s.substr(0, 2);
    if (cls == "08" || s == "57P01" || s == "57P02" || s == "57P03" || s == "57P05")
        return StoreErrorKind::Connection;
    if (cls == "28") return StoreErrorKind::Authentication;
    if (s == "57014") return StoreErrorKind::Timeout;
    if (s == "55P03" || s == "40P01" || s == "40001") return StoreErrorKind::Busy;
    if (s == "25006" || s == "42501") return StoreErrorKind::ReadOnly;
    if (cls == "53" && s != "53300") return StoreErrorKind::IO;  // disk full, out of memory
    if (s == "53300") return StoreErrorKind::Connection;         // too many connections
    if (cls == "58") return StoreErrorKind::IO;
    if (s == "XX001" || s == "XX002") return StoreErrorKind::NotADatabase;
    if (s == "3D000") return StoreErrorKind::CantOpen;
    return StoreErrorKind::Other;
}

StoreError error_from_result(const pg_result* result) {
    const char* state = PQresultErrorField(result, PG_DIAG_SQLSTATE);
    const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
    const char* detail = PQresultErrorField(result, PG_DIAG_MESSAGE_DETAIL);
    std::string message;
    if (primary != nullptr) {
        message = primary;
        if (detail != nullptr) message += std::string(" (") + detail + ")";
    } else {
        message = one_line(PQresultErrorMessage(result));
        if (message.empty()) message = "PostgreSQL reported a failure without a message";
    }
    const std::string sqlstate = state != nullptr ? state : "";
    const StoreErrorKind kind = kind_for_sqlstate(sqlstate);
    if (kind == StoreErrorKind::Connection)
        message = "lost the connection to PostgreSQL: " + message;
    return StoreError(
        kind, "PostgreSQL: " + message + (sqlstate.empty() ? "" : " [" + sqlstate + "]"), sqlstate);
}

StoreError connect_error(std::string_view message) {
    const std::string text = one_line(message);
    StoreErrorKind kind = StoreErrorKind::Connection;
    if (contains(text, "password authentication failed") ||
        contains(text, "no password supplied") || contains(text, "authentication failed") ||
        contains(text, "no pg_hba.conf entry") || contains(text, "role \"") ||
        contains(text, "SSL authentication"))
        kind = StoreErrorKind::Authentication;
    else if (contains(text, "database \"") && contains(text, "does not exist"))
        kind = StoreErrorKind::CantOpen;
    return StoreError(kind, "cannot connect to PostgreSQL: " + text, "");
}

StoreError connection_lost(std::string_view message) {
    return StoreError(StoreErrorKind::Connection,
                      "lost the connection to PostgreSQL: " + one_line(message), "");
}

}  // namespace asap_native::pg
