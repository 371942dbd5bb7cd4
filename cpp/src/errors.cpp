#include "asap_native/errors.hpp"

#include <sqlite3.h>

namespace asap_native {

StoreError::StoreError(StoreErrorKind kind, int sqlite_code, const std::string& message)
    : std::runtime_error(message), kind_(kind), sqlite_code_(sqlite_code) {}

StoreError::StoreError(StoreErrorKind kind, const std::string& message, std::string sqlstate)
    : std::runtime_error(message), kind_(kind), sqlite_code_(0), sqlstate_(std::move(sqlstate)) {}

StoreError store_closed_error() {
    return StoreError(StoreErrorKind::Closed, 0, "the store is closed");
}

std::string StoreError::sqlite_error_name() const {
    if (sqlite_code_ == 0) return "";
    // sqlite3_errstr gives prose; the symbolic names are what Python's sqlite3 exposes.
    switch (sqlite_code_ & 0xff) {
        case SQLITE_BUSY:
            return "SQLITE_BUSY";
        case SQLITE_LOCKED:
            return "SQLITE_LOCKED";
        case SQLITE_READONLY:
            return "SQLITE_READONLY";
        case SQLITE_NOTADB:
            return "SQLITE_NOTADB";
        case SQLITE_CORRUPT:
            return "SQLITE_CORRUPT";
        case SQLITE_CANTOPEN:
            return "SQLITE_CANTOPEN";
        case SQLITE_IOERR:
            return "SQLITE_IOERR";
        case SQLITE_FULL:
            return "SQLITE_FULL";
        case SQLITE_PERM:
            return "SQLITE_PERM";
        case SQLITE_CONSTRAINT:
            return "SQLITE_CONSTRAINT";
        case SQLITE_MISUSE:
            return "SQLITE_MISUSE";
        case SQLITE_NOMEM:
            return "SQLITE_NOMEM";
        case SQLITE_ERROR:
            return "SQLITE_ERROR";
        default:
            return "SQLITE_" + std::to_string(sqlite_code_ & 0xff);
    }
}

StoreErrorKind StoreError::kind_for_code(int sqlite_code) noexcept {
    switch (sqlite_code & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return StoreErrorKind::Busy;
        case SQLITE_READONLY:
        case SQLITE_PERM:
            return StoreErrorKind::ReadOnly;
        case SQLITE_NOTADB:
        case SQLITE_CORRUPT:
            return StoreErrorKind::NotADatabase;
        case SQLITE_CANTOPEN:
            return StoreErrorKind::CantOpen;
        case SQLITE_IOERR:
        case SQLITE_FULL:
            return StoreErrorKind::IO;
        default:
            return StoreErrorKind::Other;
    }
}

}  // namespace asap_native
