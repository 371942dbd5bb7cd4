#include <utility>

#include "asap_native/postgres_engine.hpp"

namespace asap_native {

std::shared_ptr<PostgresEngine> open_postgres_engine(pg::ConnectOptions options,
                                                     const pg::Schema& schema,
                                                     pg::Statements statements,
                                                     int max_connections) {
    return std::make_shared<PostgresEngine>([&](StoreStats&) {
        return std::make_unique<pg::Database>(std::move(options), schema, std::move(statements),
                                              max_connections);
    });
}

}  // namespace asap_native
