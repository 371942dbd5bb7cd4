// What the SQLite stores share: the engine they run on, its lifetime and figures.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include "asap_native/sqlite_engine.hpp"

namespace asap_native {

/// Implements `Interface`'s lifetime and figures for a store on a SqliteEngine, which other
/// stores of the same file may share.
template <typename Interface>
class SqliteStore : public Interface {
public:
    StoreFigures stats() const override { return engine_->stats(); }
    /// Waits for queued work, then closes every connection; later calls throw StoreError(Closed).
    void close() override { engine_->close(); }
    bool is_closed() const override { return engine_->is_closed(); }
    /// The connections this store uses.
    sqlite::Database& database() { return engine_->database(); }
    /// The engine this store runs on (shared with the other stores opened on it).
    const std::shared_ptr<SqliteEngine>& engine() const { return engine_; }

protected:
    /// Creates the store's tables and indexes where missing.
    SqliteStore(std::shared_ptr<SqliteEngine> engine, const std::string& schema_sql)
        : engine_(std::move(engine)) {
        apply_schema(*engine_, schema_sql);
    }

    std::shared_ptr<SqliteEngine> engine_;
};

}  // namespace asap_native
