#include "asap_native/sqlite_engine.hpp"

#include "asap_native/sqlite/functions.hpp"

namespace asap_native {

std::shared_ptr<SqliteEngine> open_sqlite_engine(const std::string& path,
                                                 sqlite::ConnectionOptions options) {
    return std::make_shared<SqliteEngine>([&](StoreStats& stats) {
        options.busy_wait_counter = stats.busy_wait_counter();
        return std::make_unique<sqlite::Database>(path, options, "",
                                                  sqlite::register_library_functions);
    });
}

void apply_schema(SqliteEngine& engine, const std::string& schema_sql) {
    engine.database().with_writer([&](sqlite::Connection& c) { c.execute(schema_sql); });
}

}  // namespace asap_native
