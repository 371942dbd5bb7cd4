#include "asap_native/postgres/transfer.hpp"

#include <sys/stat.h>

#include <cerrno>
#include <vector>

#include "asap_native/errors.hpp"
#include "asap_native/postgres/params.hpp"
#include "asap_native/postgres_metering_store.hpp"
#include "asap_native/postgres_snapshot_store.hpp"
#include "asap_native/sqlite/connection.hpp"
#include "asap_native/sqlite/statement.hpp"
#include "asap_native/sqlite_metering_store.hpp"
#include "asap_native/sqlite_snapshot_store.hpp"
#include "asap_native/timestamp.hpp"

namespace asap_native::pg {
namespace {

constexpr int kChunk = 500;  // rows per pipelined round trip

enum CopyStatement { kPutSnapshot, kPutEvent };

Statements copy_statements() {
    return {
        {"INSERT INTO snapshots (task_id, version, id, data, data_text, checkpoint, created_at, "
         "created_at_text) VALUES ($1, $2, $3, asap_native_try_jsonb($4), $4, $5, $6, $7) "
         "ON CONFLICT (task_id, version) DO UPDATE SET id = EXCLUDED.id, data = EXCLUDED.data, "
         "data_text = EXCLUDED.data_text, checkpoint = EXCLUDED.checkpoint, "
         "created_at = EXCLUDED.created_at, created_at_text = EXCLUDED.created_at_text",
         {oid::kText, oid::kInt8, oid::kText, oid::kText, oid::kBool, oid::kTimestamptz,
          oid::kText}},
        {"INSERT INTO usage_events (id, task_id, agent_id, consumer_id, metrics, \"timestamp\", "
         "timestamp_text) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7) ON CONFLICT (id) DO NOTHING",
         {oid::kText, oid::kText, oid::kText, oid::kText, oid::kText, oid::kTimestamptz,
          oid::kText}},
    };
}

// Opening each store creates (or migrates) its tables on that side.
void ensure_postgres_tables(const ConnectOptions& options) {
    PostgresSnapshotStore snapshots(options, 1);
    PostgresMeteringStore metering(options, 1);
    snapshots.close();
    metering.close();
}

void ensure_sqlite_tables(const std::string& path) {
    SqliteSnapshotStore snapshots(path);
    SqliteMeteringStore metering(path);
    snapshots.close();
    metering.close();
}

StoreError bad_row(const std::string& row, const std::string& why) {
    return StoreError(StoreErrorKind::InvalidData, row + " cannot be copied: " + why, "");
}

// Rows sent in one round trip and what to call them if PostgreSQL refuses one.
class Chunk {
public:
    explicit Chunk(Connection& connection) : connection_(connection) {}

    void send(int statement, const Params& params, std::string description) {
        connection_.set_tag(static_cast<int>(rows_.size()));
        connection_.send(statement, params);
        rows_.push_back(std::move(description));
        if (rows_.size() >= static_cast<std::size_t>(kChunk)) flush();
    }

    void flush() {
        connection_.set_tag(Connection::kNoTag);
        const Connection::BatchOutcome outcome = connection_.finish_batch();
        if (outcome.error) {
            if (outcome.failed_tag == Connection::kNoTag) std::rethrow_exception(outcome.error);
            try {
                std::rethrow_exception(outcome.error);
            } catch (const std::exception& error) {
                throw bad_row(rows_[static_cast<std::size_t>(outcome.failed_tag)], error.what());
            }
        }
        rows_.clear();
    }

private:
    Connection& connection_;
    std::vector<std::string> rows_;
};

std::string snapshot_name(std::string_view task_id, std::int64_t version) {
    return "snapshot of task '" + std::string(task_id.substr(0, 200)) + "' version " +
           std::to_string(version);
}

std::string event_name(std::string_view id) {
    return "usage event '" + std::string(id.substr(0, 200)) + "'";
}

InstantMicros instant_of(std::string_view text, const std::string& row, const char* column) {
    if (auto instant = parse_iso8601(text)) return *instant;
    throw bad_row(
        row, std::string(column) + " '" + std::string(text.substr(0, 64)) + "' is not ISO-8601");
}

}  // namespace

TransferCounts copy_sqlite_to_postgres(const std::string& sqlite_path,
                                       const ConnectOptions& options) {
    struct stat info {};
    if (::stat(sqlite_path.c_str(), &info) != 0)
        throw PathError(errno, "cannot copy from '" + sqlite_path + "': no such file", sqlite_path);
    ensure_sqlite_tables(sqlite_path);
    ensure_postgres_tables(options);

    sqlite::Connection source(sqlite_path, sqlite::ConnectionOptions{});
    Connection target(options);
    target.prepare(copy_statements());
    TransferCounts counts;
    source.execute("BEGIN");  // one consistent read of both tables
    try {
        target.send(Control::Begin);
        Chunk chunk(target);
        sqlite::Statement snapshots(
            source.handle(),
            "SELECT task_id, id, version, data, checkpoint, created_at FROM snapshots "
            "ORDER BY rowid");
        while (snapshots.step()) {
            const std::string_view task_id = snapshots.column_text(0);
            const std::int64_t version = snapshots.column_int64(2);
            const std::string row = snapshot_name(task_id, version);
            const std::string_view created_at = snapshots.column_text(5);
            Params params;
            params.text(task_id)
                .int64(version)
                .text(snapshots.column_text(1))
                .text(snapshots.column_text(3))
                .boolean(snapshots.column_int64(4) != 0)
                .timestamptz(instant_of(created_at, row, "created_at"))
                .text(created_at);
            chunk.send(kPutSnapshot, params, row);
            ++counts.snapshots;
        }
        sqlite::Statement events(source.handle(),
                                 "SELECT id, task_id, agent_id, consumer_id, metrics, timestamp "
                                 "FROM usage_events ORDER BY rowid");
        while (events.step()) {
            const std::string_view id = events.column_text(0);
            const std::string row = event_name(id);
            const std::string_view timestamp = events.column_text(5);
            Params params;
            params.text(id)
                .text(events.column_text(1))
                .text(events.column_text(2))
                .text(events.column_text(3))
                .text(events.column_text(4))
                .timestamptz(instant_of(timestamp, row, "timestamp"))
                .text(timestamp);
            chunk.send(kPutEvent, params, row);
            ++counts.usage_events;
        }
        target.send(Control::Commit);
        chunk.flush();
    } catch (...) {
        source.execute("ROLLBACK");
        throw;  // the PostgreSQL transaction dies with its connection
    }
    source.execute("COMMIT");
    return counts;
}

namespace {

// Runs `each(rows, i)` on every row of the open cursor `cursor`, fetching kChunk rows per round
// trip; returns how many rows there were.
template <typename Each>
std::int64_t for_each_row(Connection& source, const std::string& cursor, Each&& each) {
    std::int64_t count = 0;
    for (;;) {
        Result rows;
        source.send_sql("FETCH " + std::to_string(kChunk) + " FROM " + cursor,
                        [&rows](Result& result) { rows = std::move(result); });
        source.finish();
        if (rows.rows() == 0) return count;
        for (int i = 0; i < rows.rows(); ++i, ++count) each(rows, i);
    }
}

}  // namespace

TransferCounts copy_postgres_to_sqlite(const ConnectOptions& options,
                                       const std::string& sqlite_path) {
    ensure_postgres_tables(options);
    ensure_sqlite_tables(sqlite_path);

    Connection source(options);
    source.prepare({});
    sqlite::Connection target(sqlite_path, sqlite::ConnectionOptions{});
    TransferCounts counts;
    source.send_sql("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
    source.send_sql(
        "DECLARE asap_snapshots NO SCROLL CURSOR FOR SELECT task_id, id, version, data_text, "
        "checkpoint, created_at_text FROM snapshots ORDER BY task_id, version");
    source.send_sql(
        "DECLARE asap_events NO SCROLL CURSOR FOR SELECT id, task_id, agent_id, consumer_id, "
        "metrics::text, timestamp_text FROM usage_events ORDER BY seq");
    source.finish();
    target.execute("BEGIN IMMEDIATE");
    try {
        sqlite::Statement put_snapshot(
            target.handle(),
            "INSERT OR REPLACE INTO snapshots (task_id, id, version, data, checkpoint, "
            "created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
        sqlite::Statement put_event(
            target.handle(),
            "INSERT OR IGNORE INTO usage_events (id, task_id, agent_id, consumer_id, metrics, "
            "timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
        counts.snapshots = for_each_row(source, "asap_snapshots", [&](const Result& rows, int i) {
            sqlite::Statement::Use put(put_snapshot);
            put->bind(1, rows.text(i, 0));
            put->bind(2, rows.text(i, 1));
            put->bind(3, rows.int64(i, 2));
            put->bind(4, rows.text(i, 3));
            put->bind(5, std::int64_t{rows.boolean(i, 4) ? 1 : 0});
            put->bind(6, rows.text(i, 5));
            put->run();
        });
        counts.usage_events = for_each_row(source, "asap_events", [&](const Result& rows, int i) {
            sqlite::Statement::Use put(put_event);
            for (int column = 0; column < 6; ++column) put->bind(column + 1, rows.text(i, column));
            put->run();
        });
        target.execute("COMMIT");
    } catch (...) {
        target.execute("ROLLBACK");
        throw;
    }
    source.send_sql("COMMIT");
    source.finish();
    return counts;
}

}  // namespace asap_native::pg
