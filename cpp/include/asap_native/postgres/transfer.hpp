// Moving a store's rows between a SQLite file and a PostgreSQL database.
#pragma once

#include <cstdint>
#include <string>

#include "asap_native/postgres/connection.hpp"

namespace asap_native::pg {

/// Rows copied.
struct TransferCounts {
    std::int64_t snapshots = 0;
    std::int64_t usage_events = 0;
};

/// Copies every snapshot and usage event of the SQLite file at `sqlite_path` (asap-protocol's
/// tables, or ours) into the PostgreSQL database, creating its tables where missing. All or
/// nothing: one transaction on the PostgreSQL side, a consistent read on the SQLite side.
/// Snapshots keep their data and created_at text byte for byte and replace a stored snapshot
/// of the same task and version (as save() does); usage events keep their ids, timestamps and
/// order, and an event whose id is already there is skipped (a copy can be run again).
/// A row PostgreSQL cannot take (created_at or timestamp not ISO-8601, metrics not JSON, text
/// that is not UTF-8) fails the copy with StoreError(InvalidData) naming it; snapshot data that
/// jsonb cannot hold (NaN, \u0000, not JSON) is copied with its jsonb column NULL.
/// Throws PathError when the file does not exist.
TransferCounts copy_sqlite_to_postgres(const std::string& sqlite_path,
                                       const ConnectOptions& options);

/// The other way: every snapshot and usage event of the PostgreSQL database into the SQLite
/// file (created, with its tables, if missing), in one transaction, read from one consistent
/// snapshot of the server. Same rules for rows already there. Usage events' metrics arrive as
/// jsonb wrote them (same counters, keys reordered).
TransferCounts copy_postgres_to_sqlite(const ConnectOptions& options,
                                       const std::string& sqlite_path);

}  // namespace asap_native::pg
