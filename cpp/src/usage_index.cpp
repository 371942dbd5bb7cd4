#include "asap_native/usage_index.hpp"

#include "asap_native/sqlite/connection.hpp"
#include "asap_native/sqlite/statement.hpp"

namespace asap_native {
namespace {

constexpr InstantMicros kMinute = 60LL * 1000000;
constexpr InstantMicros kMargin = 26LL * 3600 * 1000000;  // beyond any UTC offset (< 24 h)

// a - b and a + b, held within [kMinInstant, kMaxInstant] (query bounds may be anything).
InstantMicros clamp(InstantMicros value) {
    return value < kMinInstant ? kMinInstant : (value > kMaxInstant ? kMaxInstant : value);
}

std::int64_t floor_seconds(InstantMicros instant) {
    std::int64_t seconds = instant / 1000000;
    if (instant % 1000000 < 0) --seconds;
    return seconds;
}

// The lowest text of the minute after `instant`'s minute; ":" (above every date) past 9999.
std::string text_after_minute(InstantMicros instant) {
    const InstantMicros next = instant + kMinute;
    if (next >= 253402300800LL * 1000000) return ":";  // 10000-01-01T00:00Z
    return utc_minute_text(next);
}

}  // namespace

const std::string& instant_key_sql() {
    static const std::string sql =
        "CAST(strftime('%s', CASE WHEN substr(timestamp, 20, 1) = '.' "
        "THEN substr(timestamp, 1, 19) || ltrim(substr(timestamp, 21), '0123456789') "
        "ELSE timestamp END) AS INTEGER)";
    return sql;
}

const std::string& instant_index_ddl() {
    static const std::string ddl = std::string("CREATE INDEX IF NOT EXISTS ") + kInstantIndexName +
                                   " ON usage_events (agent_id, " + instant_key_sql() + ")";
    return ddl;
}

bool has_instant_index(sqlite::Connection& connection) {
    sqlite::Statement::Use select(
        connection.statement("SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1 AND "
                             "tbl_name = 'usage_events'"));
    const std::string name = kInstantIndexName;
    select->bind_no_copy(1, name);
    if (!select->step()) return false;
    // SQLite keeps the statement as written, "IF NOT EXISTS" dropped.
    const std::string expected = " ON usage_events (agent_id, " + instant_key_sql() + ")";
    const std::string_view sql = select->column_text(0);
    return sql.size() >= expected.size() &&
           sql.substr(sql.size() - expected.size()) == std::string_view(expected);
}

bool set_instant_index(sqlite::Connection& connection, bool present) {
    const bool had = has_instant_index(connection);
    if (present == had) return false;
    if (present)
        connection.execute(instant_index_ddl());
    else
        connection.execute(std::string("DROP INDEX ") + kInstantIndexName);
    return true;
}

KeyRange instant_key_range(InstantMicros start, InstantMicros end) {
    return KeyRange{floor_seconds(clamp(start)) - 1, floor_seconds(clamp(end)) + 1};
}

TextRanges timestamp_text_ranges(InstantMicros start, InstantMicros end) {
    TextRanges ranges;
    const InstantMicros low = clamp(start) - kMargin;  // clamped first: no overflow
    if (low < -62135596800LL * 1000000) {
        // Before year 1: the first range starts at the bottom and the second is empty.
        ranges.low = "";
        ranges.odd_low = ranges.odd_high = "";
    } else {
        ranges.low = utc_minute_text(low);
        ranges.odd_low = ranges.low.substr(0, 10);
        ranges.odd_high = ranges.odd_low + "T";
    }
    ranges.high = timestamp_text_below(end);
    return ranges;
}

std::string timestamp_text_below(InstantMicros instant) {
    // Past the end of the range: the last minute plus the margin, plus one minute.
    const InstantMicros last = clamp(instant);
    if (last > kMaxInstant - kMargin) return ":";
    return text_after_minute(last + kMargin);
}

}  // namespace asap_native
