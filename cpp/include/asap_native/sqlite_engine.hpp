// The engine every store of one SQLite database runs on.
#pragma once

#include <memory>
#include <string>

#include "asap_native/sqlite/connection.hpp"
#include "asap_native/sqlite/database.hpp"
#include "asap_native/store_engine.hpp"

namespace asap_native {

/// A SQLite database with its executor threads and figures. Several stores may share one
/// (a snapshot store and the SQL repository on its file, say): their calls then share the
/// connections, the group commits and the figures.
using SqliteEngine = StoreEngine<sqlite::Database>;

/// Opens (or creates) `path` or ":memory:": WAL, durability and busy timeout from `options`,
/// the library's SQL functions on every connection. Throws InvalidArgument (PathError) for a
/// path that cannot be used and StoreError for what SQLite refuses.
std::shared_ptr<SqliteEngine> open_sqlite_engine(const std::string& path,
                                                 sqlite::ConnectionOptions options = {});

/// Runs `schema_sql` (CREATE ... IF NOT EXISTS) on the engine's writer connection.
void apply_schema(SqliteEngine& engine, const std::string& schema_sql);

}  // namespace asap_native
