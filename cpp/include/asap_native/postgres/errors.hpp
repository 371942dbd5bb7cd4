// PostgreSQL failures as StoreErrors: the SQLSTATE picks the kind.
#pragma once

#include <string>
#include <string_view>

#include "asap_native/errors.hpp"

struct pg_result;

namespace asap_native::pg {

/// The StoreErrorKind of a SQLSTATE: connection exceptions (class 08, admin/crash shutdown,
/// cannot connect now) are Connection, class 28 Authentication, a cancelled statement
/// (57014: statement_timeout) Timeout, lock/deadlock/serialization failures Busy, read-only
/// transactions and missing privileges ReadOnly, disk full and I/O errors IO, corruption
/// NotADatabase, a missing database CantOpen; everything else Other.
StoreErrorKind kind_for_sqlstate(std::string_view sqlstate) noexcept;

/// The error a failed statement's result carries: its primary message, its detail, its SQLSTATE.
StoreError error_from_result(const pg_result* result);

/// The error for a connection attempt that failed with libpq's `message` (authentication
/// failures are told apart by libpq's and the server's wording).
StoreError connect_error(std::string_view message);

/// The error for a connection lost (or found unusable) while in use.
StoreError connection_lost(std::string_view message);

/// libpq's multi-line message as one line, without its trailing newline.
std::string one_line(std::string_view message);

}  // namespace asap_native::pg
