// Versioned schemas: each component's tables are created by numbered migrations, recorded in
// the table asap_native_schema.
#pragma once

#include <string>
#include <vector>

namespace asap_native::pg {

class Connection;

/// A component's schema ("snapshots", "usage_events"): migration i (from 0) takes it from
/// version i to version i + 1. Each migration is SQL run with the simple protocol.
struct Schema {
    std::string component;
    std::vector<std::string> migrations;
};

/// Brings `schema` to its latest version on `connection` (before prepare()). A schema already
/// at its latest version is only read (a role without CREATE rights can use it). Otherwise the
/// missing migrations run in one transaction under an advisory lock, so processes that open
/// stores at the same moment do not race. Throws StoreError(Other) when the database holds a
/// newer version than this code knows.
void migrate(Connection& connection, const Schema& schema);

}  // namespace asap_native::pg
