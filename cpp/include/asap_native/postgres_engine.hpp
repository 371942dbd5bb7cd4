// The engine a PostgreSQL store runs on.
#pragma once

#include <memory>

#include "asap_native/postgres/database.hpp"
#include "asap_native/store_engine.hpp"

namespace asap_native {

/// A PostgreSQL connection pool with its executor threads and figures.
using PostgresEngine = StoreEngine<pg::Database>;

/// Connects, creates or migrates `schema` and prepares `statements` (see pg::Database).
/// Throws InvalidArgument (bad DSN) or StoreError (Connection, Authentication, CantOpen...).
std::shared_ptr<PostgresEngine> open_postgres_engine(pg::ConnectOptions options,
                                                     const pg::Schema& schema,
                                                     pg::Statements statements,
                                                     int max_connections);

}  // namespace asap_native
