#include "asap_native/sqlite_metering_store.hpp"

#include <atomic>
#include <chrono>
#include <random>
#include <string_view>

#include "asap_native/errors.hpp"
#include "asap_native/process_generation.hpp"
#include "asap_native/sqlite/statement.hpp"
#include "asap_native/usage_index.hpp"

namespace asap_native {
namespace {

// Byte for byte asap-protocol's DDL: the table and both indexes.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS usage_events (
    id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    consumer_id TEXT NOT NULL,
    metrics TEXT NOT NULL,
    timestamp TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS idx_usage_agent_timestamp
ON usage_events (agent_id, timestamp);
CREATE INDEX IF NOT EXISTS idx_usage_consumer_timestamp
ON usage_events (consumer_id, timestamp);
)sql";

const std::string kInsert =
    "INSERT INTO usage_events (id, task_id, agent_id, consumer_id, metrics, timestamp) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
// Timestamps are text with any UTC offset, so windows and order use the instant they denote
// (asap_instant), not string order; rowid breaks ties in insertion order. Each plan reads
// index ranges that hold every match (see usage_index.hpp), tests the instant of each row
// there, and reads the table only for the rows in the window. Both arms of a plan are
// disjoint.
constexpr const char* kEventColumns =
    "SELECT task_id, agent_id, consumer_id, metrics, timestamp, id, "
    "asap_instant(timestamp) AS instant, rowid AS r FROM usage_events ";
// On the instant index: its key range, and the rows whose key SQLite could not compute.
const std::string kQueryByKey =
    std::string(kEventColumns) + "INDEXED BY " + kInstantIndexName + " WHERE agent_id = ?1 AND " +
    instant_key_sql() + " BETWEEN ?2 AND ?3 AND instant BETWEEN ?4 AND ?5 UNION ALL " +
    kEventColumns + "INDEXED BY " + kInstantIndexName + " WHERE agent_id = ?1 AND " +
    instant_key_sql() +
    " IS NULL AND instant BETWEEN ?4 AND ?5 ORDER BY instant, r LIMIT ?6 OFFSET ?7";
// On asap-protocol's (agent_id, timestamp) index alone: two text ranges with a margin.
const std::string kQueryByText =
    std::string(kEventColumns) +
    "WHERE agent_id = ?1 AND timestamp >= ?2 AND timestamp < ?3 AND instant BETWEEN ?6 AND ?7 "
    "UNION ALL " +
    kEventColumns +
    "WHERE agent_id = ?1 AND timestamp >= ?4 AND timestamp < ?5 AND instant BETWEEN ?6 AND ?7 "
    "ORDER BY instant, r LIMIT ?8 OFFSET ?9";
// Totals are summed in C++ from each row's metrics (one parse per row, exact in 128 bits);
// asap-protocol's SQL reads each counter with CAST(json_extract(...) AS INTEGER), which this
// statement evaluates for the rare row whose metrics are not plain integers.
const std::string kAggregateRows = "SELECT id, metrics FROM usage_events WHERE agent_id = ?1";
const std::string kCastCounters =
    "SELECT CAST(json_extract(?1, '$.tokens_in') AS INTEGER), "
    "CAST(json_extract(?1, '$.tokens_out') AS INTEGER), "
    "CAST(json_extract(?1, '$.duration_ms') AS INTEGER), "
    "CAST(json_extract(?1, '$.api_calls') AS INTEGER)";

constexpr char kCrockford[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

}  // namespace

std::string new_event_id() {
    // A ULID: 48 bits of milliseconds then 80 random bits, Crockford base32.
    thread_local std::mt19937_64 random{std::random_device{}()};
    thread_local std::uint64_t seeded_for = process_generation();
    if (seeded_for != process_generation()) {  // a forked child must not repeat its parent's ids
        random.seed(std::random_device{}());
        seeded_for = process_generation();
    }
    const auto millis =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count());
    const std::uint64_t high = random();
    const std::uint64_t low = random();
    // 128-bit value: [millis:48][high:64 -> 16 used][low:64]
    unsigned char bytes[16];
    for (int i = 0; i < 6; ++i) bytes[i] = static_cast<unsigned char>(millis >> (8 * (5 - i)));
    bytes[6] = static_cast<unsigned char>(high >> 8);
    bytes[7] = static_cast<unsigned char>(high);
    for (int i = 0; i < 8; ++i) bytes[8 + i] = static_cast<unsigned char>(low >> (8 * (7 - i)));
    std::string id = "evt_";
    id.resize(4 + 26);
    // 130 bits of base32 for 128 bits of value: the first character carries 3 bits.
    int bit = -2;
    for (int c = 0; c < 26; ++c, bit += 5) {
        unsigned value = 0;
        for (int b = 0; b < 5; ++b) {
            const int position = bit + b;
            unsigned set = 0;
            if (position >= 0) set = (bytes[position / 8] >> (7 - position % 8)) & 1u;
            value = (value << 1) | set;
        }
        id[4 + static_cast<std::size_t>(c)] = kCrockford[value];
    }
    return id;
}

namespace {

// Binds a window query's parameters; `text` holds the ranges bound without a copy.
void bind_window(sqlite::Statement& select, bool by_key, const std::string& agent_id,
                 InstantMicros start, InstantMicros end, QueryPage page, TextRanges& text) {
    const std::int64_t limit = page.limit ? *page.limit : std::int64_t{-1};
    int index = 1;
    select.bind_no_copy(index++, agent_id);
    if (by_key) {
        const KeyRange keys = instant_key_range(start, end);
        for (std::int64_t key : {keys.low, keys.high}) select.bind(index++, key);
    } else {
        text = timestamp_text_ranges(start, end);
        for (const std::string* range : {&text.low, &text.high, &text.odd_low, &text.odd_high})
            select.bind_no_copy(index++, *range);
    }
    for (std::int64_t value : {start, end, limit, page.offset}) select.bind(index++, value);
}

std::vector<UsageEvent> query_on(sqlite::Connection& connection, bool by_key,
                                 const std::string& agent_id, InstantMicros start,
                                 InstantMicros end, QueryPage page) {
    validate_query(agent_id, page);
    TextRanges text;  // outlives the statement's use: bound without a copy
    sqlite::Statement& statement = connection.statement(by_key ? kQueryByKey : kQueryByText);
    sqlite::Statement::Use select(statement);
    bind_window(statement, by_key, agent_id, start, end, page, text);
    std::vector<UsageEvent> events;
    while (select->step()) {
        UsageEvent event;
        event.task_id = select->column_text(0);
        event.agent_id = select->column_text(1);
        event.consumer_id = select->column_text(2);
        event.metrics = usage_metrics_from_json(select->column_text(3), select->column_text(5));
        event.timestamp = select->column_text(4);
        events.push_back(std::move(event));
    }
    return events;
}

// The counters of a row as asap-protocol's SQL reads them (each empty where it reads NULL).
StoredCounters counters_of_row(sqlite::Connection& connection, std::string_view metrics,
                               std::string_view event_id) {
    if (auto counters = parse_stored_counters(metrics)) return *counters;
    sqlite::Statement::Use cast(connection.statement(kCastCounters));
    cast->bind(1, metrics);
    try {
        cast->step();
    } catch (const StoreError& error) {
        throw StoreError(
            StoreErrorKind::InvalidData, error.sqlite_code(),
            "usage event '" + std::string(event_id) + "' cannot be read: " + error.what());
    }
    auto column = [&](int index) -> std::optional<UsageCount> {
        if (cast->column_is_null(index)) return std::nullopt;
        return cast->column_int64(index);
    };
    return StoredCounters{column(0), column(1), column(2), column(3)};
}

}  // namespace

void SqliteMeteringSql::record(sqlite::Connection& connection, const UsageEvent& event) {
    validate_usage_event(event);
    const std::string id = new_event_id();
    const std::string metrics = usage_metrics_to_json(event.metrics);
    sqlite::Statement::Use insert(connection.statement(kInsert));
    insert->bind_no_copy(1, id);
    insert->bind_no_copy(2, event.task_id);
    insert->bind_no_copy(3, event.agent_id);
    insert->bind_no_copy(4, event.consumer_id);
    insert->bind_no_copy(5, metrics);
    insert->bind_no_copy(6, event.timestamp);
    insert->run();
}

// A window through the instant index while the file has it, else through asap-protocol's.
std::vector<UsageEvent> SqliteMeteringSql::query(sqlite::Connection& connection,
                                                 const std::string& agent_id, InstantMicros start,
                                                 InstantMicros end, QueryPage page) const {
    if (!by_key->load(std::memory_order_relaxed))
        return query_on(connection, false, agent_id, start, end, page);
    try {
        return query_on(connection, true, agent_id, start, end, page);
    } catch (const StoreError& error) {
        // The instant index was dropped since the store opened.
        if (std::string_view(error.what()).find("no such index") == std::string_view::npos) throw;
        by_key->store(false);
        return query_on(connection, false, agent_id, start, end, page);
    }
}

UsageAggregate SqliteMeteringSql::aggregate(sqlite::Connection& connection,
                                            const std::string& agent_id,
                                            const std::string& period) {
    validate_query(agent_id, QueryPage{});
    sqlite::Statement::Use select(connection.statement(kAggregateRows));
    select->bind_no_copy(1, agent_id);
    // SUM() skips NULLs and is NULL when every term is: kept apart from a total of 0.
    std::optional<UsageCount> tokens, duration, api_calls;
    std::int64_t rows = 0;
    const std::string what = "usage totals of agent '" + agent_id + "'";
    auto add = [&](std::optional<UsageCount>& sum, const std::optional<UsageCount>& value) {
        if (!value) return;
        if (!sum) sum = 0;
        add_usage(*sum, *value, what);
    };
    while (select->step()) {
        const StoredCounters counters =
            counters_of_row(connection, select->column_text(1), select->column_text(0));
        ++rows;
        if (counters.tokens_in && counters.tokens_out) {
            UsageCount both = *counters.tokens_in;
            add_usage(both, *counters.tokens_out, what);
            add(tokens, both);
        }
        add(duration, counters.duration_ms);
        add(api_calls, counters.api_calls);
    }
    UsageAggregate total{agent_id, period};
    if (!tokens && !duration) return total;  // as asap-protocol: no usable rows, all zero
    total.total_tokens = tokens.value_or(0);
    total.total_duration = duration.value_or(0);
    total.total_tasks = rows;
    total.total_api_calls = api_calls.value_or(0);
    return total;
}

const char* sqlite_metering_schema() { return kSchema; }

SqliteMeteringStore::SqliteMeteringStore(const std::string& path, sqlite::ConnectionOptions options,
                                         MeteringOptions metering)
    : SqliteMeteringStore(open_sqlite_engine(path, options), metering) {}

SqliteMeteringStore::SqliteMeteringStore(std::shared_ptr<SqliteEngine> engine,
                                         MeteringOptions metering)
    : EngineMeteringStore(std::move(engine)) {
    apply_schema(*engine_, sqlite_metering_schema());
    engine_->database().with_writer([&](sqlite::Connection& c) {
        if (metering.instant_index) c.execute(instant_index_ddl());
        sql_.by_key->store(has_instant_index(c));
    });
}

std::vector<std::string> SqliteMeteringStore::explain_query(const std::string& agent_id,
                                                            InstantMicros start, InstantMicros end,
                                                            QueryPage page) {
    return engine_->database().with_reader([&](sqlite::Connection& c) {
        const bool by_key = sql_.by_key->load();
        TextRanges text;
        sqlite::Statement explain(c.handle(),
                                  "EXPLAIN QUERY PLAN " + (by_key ? kQueryByKey : kQueryByText));
        bind_window(explain, by_key, agent_id, start, end, page, text);
        std::vector<std::string> plan;
        while (explain.step()) plan.emplace_back(explain.column_text(3));
        return plan;
    });
}

template class EngineMeteringStore<sqlite::Database, SqliteMeteringSql>;

}  // namespace asap_native
