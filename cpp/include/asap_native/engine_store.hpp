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

/// `call(arguments...)`'s result, Nothing where it returns void (for a sync call's settled();
/// a queued one's engine reads void as Nothing itself).
template <typename Call, typename... Arguments>
auto returned(Call& call, Arguments&... arguments) {
    if constexpr (std::is_void_v<std::invoke_result_t<Call&, Arguments&...>>) {
        call(arguments...);
        return Nothing{};
    } else {
        return call(arguments...);
    }
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

/// Where a store's operation runs: on a reader connection, or on the writer (group-committed
/// when queued).
enum class StoreAccess { Read, Write };

/// Implements `Interface`'s lifetime and figures for a store on a StoreEngine, which other
/// stores of the same database may share (a SQLite file's snapshot store and SQL repository),
/// and runs its operations: each is a function of `Sql` on a connection, run now (sync) or
/// queued with a copy of `Sql` (and any state it holds, which may outlive the store).
template <typename Interface, typename Database, typename Sql>
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

    /// `call(sql, connection)` now, on a reader or (`write`) the writer; a shared cell settled.
    template <typename Call>
    auto run(StoreOperation operation, StoreAccess access, Call&& call) {
        auto on_connection = [&](Connection& c) { return returned(call, sql_, c); };
        if (access == StoreAccess::Read) return settled(engine_->read(operation, on_connection));
        return settled(engine_->write(operation, on_connection));
    }
    /// `call(sql, connection)` queued behind the writes of `key`; `done` gets its settled result.
    template <typename Result, typename Call>
    void queue(StoreOperation operation, StoreAccess access, std::string key, Call call,
               Done<Result> done) {
        auto work = [sql = sql_, call = std::move(call)](Connection& c) { return call(sql, c); };
        using Stored = WorkResult<decltype(work), Connection>;
        auto settle = settling<Result, Stored>(std::move(done));
        if (access == StoreAccess::Read)
            engine_->read_queued(operation, std::move(key), std::move(work), std::move(settle));
        else
            engine_->write_queued(operation, std::move(key), std::move(work), std::move(settle));
    }

    std::shared_ptr<Engine> engine_;
    Sql sql_;
};

/// SnapshotStore on an engine: each operation is `Sql`'s function of the same name, ordered
/// per task id. `Sql::remove` may return a shared cell (see settled).
template <typename Database, typename Sql>
class EngineSnapshotStore : public EngineStore<SnapshotStore, Database, Sql> {
    using Base = EngineStore<SnapshotStore, Database, Sql>;
    using Base::queue;
    using Base::run;

public:
    void save(const Snapshot& snapshot) override {
        run(StoreOperation::Save, StoreAccess::Write,
            [&](auto& sql, auto& c) { sql.save(c, snapshot); });
    }
    std::optional<Snapshot> get(const std::string& task_id,
                                std::optional<std::int64_t> version) override {
        return run(StoreOperation::Get, StoreAccess::Read,
                   [&](auto& sql, auto& c) { return sql.get(c, task_id, version); });
    }
    std::vector<std::int64_t> list_versions(const std::string& task_id) override {
        return run(StoreOperation::ListVersions, StoreAccess::Read,
                   [&](auto& sql, auto& c) { return sql.list_versions(c, task_id); });
    }
    bool remove(const std::string& task_id, std::optional<std::int64_t> version) override {
        return run(StoreOperation::Delete, StoreAccess::Write,
                   [&](auto& sql, auto& c) { return sql.remove(c, task_id, version); });
    }

    void save_queued(Snapshot snapshot, Done<Nothing> done) override {
        std::string key = snapshot.task_id;
        queue(
            StoreOperation::Save, StoreAccess::Write, std::move(key),
            [snapshot = std::move(snapshot)](auto& sql, auto& c) { sql.save(c, snapshot); },
            std::move(done));
    }
    void get_queued(std::string task_id, std::optional<std::int64_t> version,
                    Done<std::optional<Snapshot>> done) override {
        queue(
            StoreOperation::Get, StoreAccess::Read, task_id,
            [task_id, version](auto& sql, auto& c) { return sql.get(c, task_id, version); },
            std::move(done));
    }
    void list_versions_queued(std::string task_id, Done<std::vector<std::int64_t>> done) override {
        queue(
            StoreOperation::ListVersions, StoreAccess::Read, task_id,
            [task_id](auto& sql, auto& c) { return sql.list_versions(c, task_id); },
            std::move(done));
    }
    void remove_queued(std::string task_id, std::optional<std::int64_t> version,
                       Done<bool> done) override {
        queue(
            StoreOperation::Delete, StoreAccess::Write, task_id,
            [task_id, version](auto& sql, auto& c) { return sql.remove(c, task_id, version); },
            std::move(done));
    }

protected:
    using Base::Base;
};

/// MeteringStore on an engine: each operation is `Sql`'s function of the same name, ordered
/// per agent id.
template <typename Database, typename Sql>
class EngineMeteringStore : public EngineStore<MeteringStore, Database, Sql> {
    using Base = EngineStore<MeteringStore, Database, Sql>;
    using Base::queue;
    using Base::run;

public:
    void record(const UsageEvent& event) override {
        run(StoreOperation::Record, StoreAccess::Write,
            [&](auto& sql, auto& c) { sql.record(c, event); });
    }
    std::vector<UsageEvent> query(const std::string& agent_id, InstantMicros start,
                                  InstantMicros end, QueryPage page) override {
        return run(StoreOperation::Query, StoreAccess::Read,
                   [&](auto& sql, auto& c) { return sql.query(c, agent_id, start, end, page); });
    }
    UsageAggregate aggregate(const std::string& agent_id, const std::string& period) override {
        return run(StoreOperation::Aggregate, StoreAccess::Read,
                   [&](auto& sql, auto& c) { return sql.aggregate(c, agent_id, period); });
    }

    void record_queued(UsageEvent event, Done<Nothing> done) override {
        std::string key = event.agent_id;
        queue(
            StoreOperation::Record, StoreAccess::Write, std::move(key),
            [event = std::move(event)](auto& sql, auto& c) { sql.record(c, event); },
            std::move(done));
    }
    void query_queued(std::string agent_id, InstantMicros start, InstantMicros end, QueryPage page,
                      Done<std::vector<UsageEvent>> done) override {
        queue(
            StoreOperation::Query, StoreAccess::Read, agent_id,
            [agent_id, start, end, page](auto& sql, auto& c) {
                return sql.query(c, agent_id, start, end, page);
            },
            std::move(done));
    }
    void aggregate_queued(std::string agent_id, std::string period,
                          Done<UsageAggregate> done) override {
        queue(
            StoreOperation::Aggregate, StoreAccess::Read, agent_id,
            [agent_id, period = std::move(period)](auto& sql, auto& c) {
                return sql.aggregate(c, agent_id, period);
            },
            std::move(done));
    }

protected:
    using Base::Base;
};

}  // namespace asap_native
