#include "asap_native/postgres/schema.hpp"

#include "asap_native/errors.hpp"
#include "asap_native/postgres/connection.hpp"
#include "asap_native/sql.hpp"

namespace asap_native::pg {
namespace {

// pg_advisory_xact_lock key shared by every asap_native migration ('asap' 'schm').
constexpr const char* kLockKey = "7021802284373830765";

constexpr const char* kVersionsTable = R"sql(
CREATE TABLE IF NOT EXISTS asap_native_schema (
    component text PRIMARY KEY,
    version integer NOT NULL,
    migrated_at timestamptz NOT NULL DEFAULT now()
))sql";

std::string literal(const std::string& text) { return sql_quoted(text, '\''); }

int stored_version(Connection& connection, const std::string& component) {
    Result row = connection.execute("SELECT version FROM asap_native_schema WHERE component = " +
                                    literal(component));
    return row.rows() == 0 ? 0 : static_cast<int>(row.int64(0, 0));
}

void refuse_newer(const Schema& schema, int version) {
    const auto latest = static_cast<int>(schema.migrations.size());
    if (version > latest)
        throw StoreError(StoreErrorKind::Other,
                         "the PostgreSQL schema of '" + schema.component + "' is at version " +
                             std::to_string(version) + ", newer than this asap_native knows (" +
                             std::to_string(latest) + "): upgrade asap_native",
                         "");
}

}  // namespace

void migrate(Connection& connection, const Schema& schema) {
    const auto latest = static_cast<int>(schema.migrations.size());
    Result exists = connection.execute("SELECT to_regclass('asap_native_schema') IS NOT NULL");
    if (exists.rows() == 1 && exists.boolean(0, 0)) {
        const int version = stored_version(connection, schema.component);
        refuse_newer(schema, version);
        if (version == latest) return;
    }
    connection.execute("BEGIN");
    try {
        connection.execute(std::string("SELECT pg_advisory_xact_lock(") + kLockKey + ")");
        connection.execute(kVersionsTable);
        const int version = stored_version(connection, schema.component);
        refuse_newer(schema, version);
        for (int i = version; i < latest; ++i)
            connection.execute(schema.migrations[static_cast<std::size_t>(i)]);
        if (version < latest)
            connection.execute(
                "INSERT INTO asap_native_schema (component, version) VALUES (" +
                literal(schema.component) + ", " + std::to_string(latest) +
                ") ON CONFLICT (component) DO UPDATE SET version = EXCLUDED.version, "
                "migrated_at = now()");
        connection.execute("COMMIT");
    } catch (...) {
        if (!connection.broken()) {
            try {
                connection.execute("ROLLBACK");
            } catch (...) {
            }
        }
        throw;
    }
}

}  // namespace asap_native::pg
