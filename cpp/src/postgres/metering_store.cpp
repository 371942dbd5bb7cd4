#include <memory>

#include "asap_native/errors.hpp"
#include "asap_native/postgres/params.hpp"
#include "asap_native/postgres_metering_store.hpp"
#include "asap_native/sqlite_metering_store.hpp"  // new_event_id()

namespace asap_native {
namespace {

// Version 1. `seq` orders events recorded at the same instant as they were inserted (SQLite's
// rowid does this there); `timestamp_text` is the timestamp as recorded, returned as is.
constexpr const char* kMigration1 = R"sql(
CREATE TABLE usage_events (
    seq bigint GENERATED ALWAYS AS IDENTITY,
    id text PRIMARY KEY,
    task_id text NOT NULL,
    agent_id text NOT NULL,
    consumer_id text NOT NULL,
    metrics jsonb NOT NULL,
    "timestamp" timestamptz NOT NULL,
    timestamp_text text NOT NULL
);
CREATE INDEX usage_events_agent_time ON usage_events (agent_id, "timestamp", seq);
CREATE INDEX usage_events_consumer_time ON usage_events (consumer_id, "timestamp");
COMMENT ON TABLE usage_events IS 'asap_native usage events';
COMMENT ON COLUMN usage_events.timestamp_text IS 'the timestamp as recorded (ISO-8601)';
)sql";

enum Statement { kRecord, kQuery, kAggregate };

// Counters are summed as numeric (exact at any size); trunc() reads a fractional counter
// written by another program as SQLite's CAST(... AS INTEGER) does.
pg::Statements statements() {
    return {
        {"INSERT INTO usage_events (id, task_id, agent_id, consumer_id, metrics, \"timestamp\", "
         "timestamp_text) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7)",
         {pg::oid::kText, pg::oid::kText, pg::oid::kText, pg::oid::kText, pg::oid::kText,
          pg::oid::kTimestamptz, pg::oid::kText}},
        {"SELECT task_id, agent_id, consumer_id, metrics::text, timestamp_text, id "
         "FROM usage_events WHERE agent_id = $1 AND \"timestamp\" BETWEEN $2 AND $3 "
         "ORDER BY \"timestamp\", seq LIMIT $4 OFFSET $5",
         {pg::oid::kText, pg::oid::kTimestamptz, pg::oid::kTimestamptz, pg::oid::kInt8,
          pg::oid::kInt8}},
        {"SELECT count(*), "
         "sum(trunc((metrics->>'tokens_in')::numeric) + trunc((metrics->>'tokens_out')::numeric))"
         "::text, sum(trunc((metrics->>'duration_ms')::numeric))::text, "
         "sum(trunc((metrics->>'api_calls')::numeric))::text "
         "FROM usage_events WHERE agent_id = $1",
         {pg::oid::kText}},
    };
}

// A numeric total as text ("123", "-4"), exact in 128 bits.
std::optional<UsageCount> total_of(const pg::Result& row, int column, const std::string& what) {
    if (row.is_null(0, column)) return std::nullopt;
    const std::string_view text = row.text(0, column);
    std::size_t i = 0;
    const bool negative = !text.empty() && text[0] == '-';
    if (negative) ++i;
    if (i == text.size())
        throw StoreError(StoreErrorKind::InvalidData, what + " is not an integer", "");
    UsageCount total = 0;
    for (; i < text.size(); ++i) {
        const char c = text[i];
        if (c < '0' || c > '9')
            throw StoreError(StoreErrorKind::InvalidData,
                             what + " is not an integer: " + std::string(text.substr(0, 40)), "");
        const UsageCount digit = c - '0';
        constexpr UsageCount kMax =
            ~static_cast<UsageCount>(0) ^ (static_cast<UsageCount>(1) << 127);  // 2^127 - 1
        if (total > (kMax - digit) / 10)
            throw StoreError(StoreErrorKind::InvalidData, what + " exceed 128-bit integers", "");
        total = total * 10 + digit;
    }
    return negative ? -total : total;
}

}  // namespace

void PostgresMeteringSql::record(pg::Connection& connection, const UsageEvent& event) {
    validate_usage_event(event);
    const std::string id = new_event_id();
    const std::string metrics = usage_metrics_to_json(event.metrics);
    pg::Params params;
    params.text(id)
        .text(event.task_id, "task_id")
        .text(event.agent_id, "agent_id")
        .text(event.consumer_id, "consumer_id")
        .text(metrics)
        .timestamptz(parse_iso8601_or_throw(event.timestamp, "usage event timestamp"))
        .text(event.timestamp, "timestamp");
    connection.send(kRecord, params);
}

std::vector<UsageEvent> PostgresMeteringSql::query(pg::Connection& connection,
                                                   const std::string& agent_id, InstantMicros start,
                                                   InstantMicros end, QueryPage page) {
    validate_query(agent_id, page);
    pg::Params params;
    params.text(agent_id, "agent_id").timestamptz(start).timestamptz(end);
    // LIMIT NULL: no limit. A negative limit is none too, as SQLite reads it (asap's store
    // passes it through), where PostgreSQL would refuse it.
    if (page.limit && *page.limit >= 0)
        params.int64(*page.limit);
    else
        params.null();
    params.int64(page.offset);
    const pg::Result rows = connection.query(kQuery, params);
    std::vector<UsageEvent> events;
    events.reserve(static_cast<std::size_t>(rows.rows()));
    for (int i = 0; i < rows.rows(); ++i) {
        UsageEvent event;
        event.task_id = rows.string(i, 0);
        event.agent_id = rows.string(i, 1);
        event.consumer_id = rows.string(i, 2);
        event.metrics = usage_metrics_from_json(rows.text(i, 3), rows.text(i, 5));
        event.timestamp = rows.string(i, 4);
        events.push_back(std::move(event));
    }
    return events;
}

UsageAggregate PostgresMeteringSql::aggregate(pg::Connection& connection,
                                              const std::string& agent_id,
                                              const std::string& period) {
    validate_query(agent_id, QueryPage{});
    pg::Params params;
    params.text(agent_id, "agent_id");
    pg::Result row;
    try {
        row = connection.query(kAggregate, params);
    } catch (const StoreError& error) {
        // A stored counter that is not a number (a row another program wrote).
        if (error.sqlstate().rfind("22", 0) != 0) throw;
        throw StoreError(
            StoreErrorKind::InvalidData,
            "usage totals of agent '" + agent_id + "' cannot be computed: " + error.what(),
            error.sqlstate());
    }
    const std::string what = "usage totals of agent '" + agent_id + "'";
    const std::optional<UsageCount> tokens = total_of(row, 1, what);
    const std::optional<UsageCount> duration = total_of(row, 2, what);
    const std::optional<UsageCount> api_calls = total_of(row, 3, what);
    UsageAggregate total{agent_id, period};
    if (!tokens && !duration) return total;  // as asap-protocol: no usable rows, all zero
    total.total_tokens = tokens.value_or(0);
    total.total_duration = duration.value_or(0);
    total.total_tasks = row.int64(0, 0);
    total.total_api_calls = api_calls.value_or(0);
    return total;
}

PostgresMeteringStore::PostgresMeteringStore(pg::ConnectOptions options, int max_connections)
    : EngineMeteringStore(open_postgres_engine(std::move(options),
                                               pg::Schema{"usage_events", {kMigration1}},
                                               statements(), max_connections)) {}

template class EngineMeteringStore<pg::Database, PostgresMeteringSql>;

}  // namespace asap_native
