#include "asap_native/sqlite_metering_store.hpp"

#include <sqlite3.h>

#include <chrono>
#include <random>

#include "asap_native/executor.hpp"
#include "asap_native/process_generation.hpp"
#include "asap_native/sqlite/database.hpp"
#include "asap_native/sqlite/statement.hpp"

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
// (asap_instant), not string order; rowid breaks ties in insertion order.
const std::string kQuery =
    "SELECT task_id, agent_id, consumer_id, metrics, timestamp FROM usage_events "
    "WHERE agent_id = ?1 AND asap_instant(timestamp) BETWEEN ?2 AND ?3 "
    "ORDER BY asap_instant(timestamp), rowid LIMIT ?4 OFFSET ?5";
// asap-protocol's aggregate, unchanged, so both give the same totals.
const std::string kAggregate = R"sql(
SELECT
    SUM(CAST(json_extract(metrics, '$.tokens_in') AS INTEGER) + CAST(json_extract(metrics, '$.tokens_out') AS INTEGER)),
    SUM(CAST(json_extract(metrics, '$.duration_ms') AS INTEGER)),
    COUNT(*),
    SUM(CAST(json_extract(metrics, '$.api_calls') AS INTEGER))
FROM usage_events
WHERE agent_id = ?1
)sql";

void asap_instant(sqlite3_context* context, int, sqlite3_value** args) {
    const auto* text = reinterpret_cast<const char*>(sqlite3_value_text(args[0]));
    if (text == nullptr) {
        sqlite3_result_null(context);
        return;
    }
    const auto size = static_cast<std::size_t>(sqlite3_value_bytes(args[0]));
    if (auto instant = parse_iso8601(std::string_view(text, size)))
        sqlite3_result_int64(context, *instant);
    else
        sqlite3_result_null(context);
}

void register_functions(sqlite::Connection& connection) {
    const int rc = sqlite3_create_function_v2(
        connection.handle(), "asap_instant", 1,
        SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, nullptr, asap_instant, nullptr,
        nullptr, nullptr);
    if (rc != SQLITE_OK) sqlite::throw_sqlite_error(connection.handle(), rc, "create function");
}

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
    const auto millis = static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(
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

void record_on(sqlite::Connection& connection, const std::string& id, const UsageEvent& event,
               const std::string& metrics) {
    sqlite::Statement::Use insert(connection.statement(kInsert));
    insert->bind(1, id);
    insert->bind(2, event.task_id);
    insert->bind(3, event.agent_id);
    insert->bind(4, event.consumer_id);
    insert->bind(5, metrics);
    insert->bind(6, event.timestamp);
    insert->run();
}

std::vector<UsageEvent> query_on(sqlite::Connection& connection, const std::string& agent_id,
                                 InstantMicros start, InstantMicros end, QueryPage page) {
    sqlite::Statement::Use select(connection.statement(kQuery));
    select->bind(1, agent_id);
    select->bind(2, start);
    select->bind(3, end);
    select->bind(4, page.limit ? *page.limit : std::int64_t{-1});
    select->bind(5, page.offset);
    std::vector<UsageEvent> events;
    while (select->step()) {
        UsageEvent event;
        event.task_id = select->column_text(0);
        event.agent_id = select->column_text(1);
        event.consumer_id = select->column_text(2);
        event.metrics = usage_metrics_from_json(std::string(select->column_text(3)));
        event.timestamp = select->column_text(4);
        events.push_back(std::move(event));
    }
    return events;
}

UsageAggregate aggregate_on(sqlite::Connection& connection, const std::string& agent_id,
                            const std::string& period) {
    sqlite::Statement::Use select(connection.statement(kAggregate));
    select->bind(1, agent_id);
    UsageAggregate total{agent_id, period};
    if (select->step() && !(select->column_is_null(0) && select->column_is_null(1))) {
        total.total_tokens = select->column_int64(0);
        total.total_duration = select->column_int64(1);
        total.total_tasks = select->column_int64(2);
        total.total_api_calls = select->column_int64(3);
    }
    return total;
}

}  // namespace

SqliteMeteringStore::SqliteMeteringStore(const std::string& path,
                                         sqlite::ConnectionOptions options)
    : database_([&] {
          options.busy_wait_counter = stats_.busy_wait_counter();
          return std::make_unique<sqlite::Database>(path, options, kSchema, register_functions);
      }()),
      executor_(std::make_unique<Executor>(*database_, 0, 1024, &stats_)) {}

SqliteMeteringStore::~SqliteMeteringStore() { executor_->shutdown(); }

void SqliteMeteringStore::record(const UsageEvent& event) {
    stats_.measure(StoreOperation::Record, [&] {
        validate_usage_event(event);
        const std::string id = new_event_id();
        const std::string metrics = usage_metrics_to_json(event.metrics);
        database_->with_writer([&](sqlite::Connection& c) { record_on(c, id, event, metrics); });
    });
}

std::vector<UsageEvent> SqliteMeteringStore::query(const std::string& agent_id,
                                                   InstantMicros start, InstantMicros end,
                                                   QueryPage page) {
    return stats_.measure(StoreOperation::Query, [&] {
        validate_query(agent_id, page);
        return database_->with_reader(
            [&](sqlite::Connection& c) { return query_on(c, agent_id, start, end, page); });
    });
}

UsageAggregate SqliteMeteringStore::aggregate(const std::string& agent_id,
                                              const std::string& period) {
    return stats_.measure(StoreOperation::Aggregate, [&] {
        validate_query(agent_id, QueryPage{});
        return database_->with_reader(
            [&](sqlite::Connection& c) { return aggregate_on(c, agent_id, period); });
    });
}

// Queued calls are counted when they complete, with the time from submission.

void SqliteMeteringStore::record_queued(UsageEvent event, RecordDone done) {
    stats_.measure_submission(StoreOperation::Record, [&](StoreStats::Completion completed) {
        validate_usage_event(event);
        struct Row {
            std::string id;
            UsageEvent event;
            std::string metrics;
        };
        std::string metrics = usage_metrics_to_json(event.metrics);
        auto row =
            std::make_shared<Row>(Row{new_event_id(), std::move(event), std::move(metrics)});
        const std::string key = row->event.agent_id;
        executor_->submit_write(
            key, Job{[row](sqlite::Connection& c) { record_on(c, row->id, row->event, row->metrics); },
                     [completed, done = std::move(done)](std::exception_ptr error) {
                         completed(error);
                         done(error);
                     }});
    });
}

void SqliteMeteringStore::query_queued(std::string agent_id, InstantMicros start,
                                       InstantMicros end, QueryPage page, QueryDone done) {
    stats_.measure_submission(StoreOperation::Query, [&](StoreStats::Completion completed) {
        validate_query(agent_id, page);
        auto result = std::make_shared<std::vector<UsageEvent>>();
        const std::string key = agent_id;
        executor_->submit_read(
            key, Job{[result, agent_id = std::move(agent_id), start, end,
                      page](sqlite::Connection& c) {
                         *result = query_on(c, agent_id, start, end, page);
                     },
                     [result, completed, done = std::move(done)](std::exception_ptr error) {
                         completed(error);
                         done(std::move(*result), error);
                     }});
    });
}

void SqliteMeteringStore::aggregate_queued(std::string agent_id, std::string period,
                                           AggregateDone done) {
    stats_.measure_submission(StoreOperation::Aggregate, [&](StoreStats::Completion completed) {
        validate_query(agent_id, QueryPage{});
        auto result = std::make_shared<UsageAggregate>();
        const std::string key = agent_id;
        executor_->submit_read(
            key, Job{[result, agent_id = std::move(agent_id),
                      period = std::move(period)](sqlite::Connection& c) {
                         *result = aggregate_on(c, agent_id, period);
                     },
                     [result, completed, done = std::move(done)](std::exception_ptr error) {
                         completed(error);
                         done(std::move(*result), error);
                     }});
    });
}

ExecutorStats SqliteMeteringStore::executor_stats() const { return executor_->stats(); }

void SqliteMeteringStore::close() {
    executor_->shutdown();
    database_->close();
}

bool SqliteMeteringStore::is_closed() const { return database_->is_closed(); }

}  // namespace asap_native
