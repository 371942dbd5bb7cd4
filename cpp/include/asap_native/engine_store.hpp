// The store interfaces implemented once over any StoreEngine: a store on SQLite or PostgreSQL
// is its SQL (a struct of static functions, one per operation, on a connection) plus its schema.
#pragma once

#include <cstdint>
#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "asap_native/metering_store.hpp"
#include "asap_native/snapshot_store.hpp"
#include "asap_native/store_engine.hpp"

namespace asap_native {

/// A work's result as the caller gets it: the value itself, or the value of a shared cell that
/// the connection fills once a pipelined statement's result arrives (PostgreSQL sends a write
/// and reads its outcome when the batch is flushed, before the call completes).
template <typename T>
T settled(T value) {
    return value;
}
template <typename T>
T settled(const std::shared_ptr<T>& cell) {
    return cell ? *cell : T{};
}

/// `done` for a queued work that returns `Stored` (a value or a shared cell of it).
template <typename Result, typename Stored>
Done<Stored> settling(Done<Result> done) {
    if constexpr (std::is_same_v<Result, Stored>) {
        return done;
    } else {
        return [done = std::move(done)](Stored stored, std::exception_ptr error) {
            done(settled(std::move(stored)), error);
        };
    }
}

/// Implements `Interface`'s lifetime and figures for a store on a StoreEngine, which other
/// stores of the same database may share (a SQLite file's snapshot store and SQL repository).
template <typename Interface, typename Database>
class EngineStore : public Interface {
public:
    using Engine = StoreEngine<Database>;
    using Connection = typename Database::Connection;

    StoreFigures stats() const override { return engine_->stats(); }
    /// Waits for queued work, then closes every connection; later calls throw StoreError(Closed).
    void close() override { engine_->close(); }
    bool is_closed() const override { return engine_->is_closed(); }
    /// The connections this store uses.
    Database& database() { return engine_->database(); }
    /// The engine this store runs on (shared with the other stores opened on it).
    const std::shared_ptr<Engine>& engine() const { return engine_; }

protected:
    explicit EngineStore(std::shared_ptr<Engine> engine) : engine_(std::move(engine)) {}

    std::shared_ptr<Engine> engine_;
};

/// SnapshotStore on an engine: each operation is the function of the same name of `Sql` (a
/// copy of which each queued call carries, with any state it holds), run now (sync) or queued,
/// ordered per task id. `Sql::remove` may return a shared cell (see settled).
template <typename Database, typename Sql>
class EngineSnapshotStore : public EngineStore<SnapshotStore, Database> {
    using Base = EngineStore<SnapshotStore, Database>;
    using Connection = typename Base::Connection;

public:
    void save(const Snapshot& snapshot) override {
        engine_->write(StoreOperation::Save, [&](Connection& c) { sql_.save(c, snapshot); });
    }
    std::optional<Snapshot> get(const std::string& task_id,
                                std::optional<std::int64_t> version) override {
        return engine_->read(StoreOperation::Get,
                             [&](Connection& c) { return sql_.get(c, task_id, version); });
    }
    std::vector<std::int64_t> list_versions(const std::string& task_id) override {
        return engine_->read(StoreOperation::ListVersions,
                             [&](Connection& c) { return sql_.list_versions(c, task_id); });
    }
    bool remove(const std::string& task_id, std::optional<std::int64_t> version) override {
        return settled(engine_->write(StoreOperation::Delete, [&](Connection& c) {
            return sql_.remove(c, task_id, version);
        }));
    }

    void save_queued(Snapshot snapshot, Done<Nothing> done) override {
        std::string key = snapshot.task_id;
        engine_->write_queued(
            StoreOperation::Save, std::move(key),
            [sql = sql_, snapshot = std::move(snapshot)](Connection& c) { sql.save(c, snapshot); },
            std::move(done));
    }
    void get_queued(std::string task_id, std::optional<std::int64_t> version,
                    Done<std::optional<Snapshot>> done) override {
        engine_->read_queued(
            StoreOperation::Get, task_id,
            [sql = sql_, task_id, version](Connection& c) { return sql.get(c, task_id, version); },
            std::move(done));
    }
    void list_versions_queued(std::string task_id, Done<std::vector<std::int64_t>> done) override {
        engine_->read_queued(
            StoreOperation::ListVersions, task_id,
            [sql = sql_, task_id](Connection& c) { return sql.list_versions(c, task_id); },
            std::move(done));
    }
    void remove_queued(std::string task_id, std::optional<std::int64_t> version,
                       Done<bool> done) override {
        using Stored = decltype(sql_.remove(std::declval<Connection&>(), task_id, version));
        engine_->write_queued(
            StoreOperation::Delete, task_id,
            [sql = sql_, task_id, version](Connection& c) {
                return sql.remove(c, task_id, version);
            },
            settling<bool, Stored>(std::move(done)));
    }

protected:
    using Base::Base;
    using Base::engine_;
    Sql sql_;
};

/// MeteringStore on an engine: each operation is `Sql`'s function of the same name, run now
/// (sync) or queued (with a copy of `Sql`), ordered per agent id.
template <typename Database, typename Sql>
class EngineMeteringStore : public EngineStore<MeteringStore, Database> {
    using Base = EngineStore<MeteringStore, Database>;
    using Connection = typename Base::Connection;

public:
    void record(const UsageEvent& event) override {
        engine_->write(StoreOperation::Record, [&](Connection& c) { sql_.record(c, event); });
    }
    std::vector<UsageEvent> query(const std::string& agent_id, InstantMicros start,
                                  InstantMicros end, QueryPage page) override {
        return engine_->read(StoreOperation::Query, [&](Connection& c) {
            return sql_.query(c, agent_id, start, end, page);
        });
    }
    UsageAggregate aggregate(const std::string& agent_id, const std::string& period) override {
        return engine_->read(StoreOperation::Aggregate,
                             [&](Connection& c) { return sql_.aggregate(c, agent_id, period); });
    }

    void record_queued(UsageEvent event, Done<Nothing> done) override {
        std::string key = event.agent_id;
        engine_->write_queued(
            StoreOperation::Record, std::move(key),
            [sql = sql_, event = std::move(event)](Connection& c) { sql.record(c, event); },
            std::move(done));
    }
    void query_queued(std::string agent_id, InstantMicros start, InstantMicros end, QueryPage page,
                      Done<std::vector<UsageEvent>> done) override {
        engine_->read_queued(
            StoreOperation::Query, agent_id,
            [sql = sql_, agent_id, start, end, page](Connection& c) {
                return sql.query(c, agent_id, start, end, page);
            },
            std::move(done));
    }
    void aggregate_queued(std::string agent_id, std::string period,
                          Done<UsageAggregate> done) override {
        engine_->read_queued(
            StoreOperation::Aggregate, agent_id,
            [sql = sql_, agent_id, period = std::move(period)](Connection& c) {
                return sql.aggregate(c, agent_id, period);
            },
            std::move(done));
    }

protected:
    using Base::Base;
    using Base::engine_;
    Sql sql_;
};

}  // namespace asap_native
