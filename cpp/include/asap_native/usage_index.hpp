// How `usage_events` rows are found by instant: asap-protocol's text index with a margin, and
// the instant index this library adds (built from SQLite's own functions only).
#pragma once

#include <cstdint>
#include <string>

#include "asap_native/timestamp.hpp"

namespace asap_native {

namespace sqlite {
class Connection;
}

/// The index this library adds to `usage_events`: (agent_id, the timestamp's whole seconds
/// since the epoch as SQLite's strftime('%s') reads it, fraction removed first). It uses
/// only SQLite's built-in functions, so every SQLite (asap-protocol's included) maintains it
/// on insert, and the same text gives the same key in every SQLite version. The key is NULL
/// where SQLite does not read the text (offsets beyond ±14:59 or with seconds, a ',' before
/// the fraction); elsewhere it equals floor(instant) for every text parse_iso8601 accepts.
inline constexpr const char* kInstantIndexName = "asap_native_usage_instant";

/// The key expression, as the index and the queries that use it spell it.
const std::string& instant_key_sql();

/// CREATE INDEX IF NOT EXISTS for the instant index.
const std::string& instant_index_ddl();

/// True when `connection`'s database has the instant index, defined as this library
/// defines it (an index of that name on another expression is not used).
bool has_instant_index(sqlite::Connection& connection);

/// Creates (`present`) or drops the instant index of the `usage_events` table; returns true
/// when that changed the file. Creating it reads the whole table under the write lock.
bool set_instant_index(sqlite::Connection& connection, bool present);

/// The instant-index key range that holds every row whose instant lies in [start, end]
/// (inclusive, with a second's margin each side).
struct KeyRange {
    std::int64_t low;
    std::int64_t high;
};
KeyRange instant_key_range(InstantMicros start, InstantMicros end);

/// Text ranges of asap-protocol's (agent_id, timestamp) index that hold every row whose
/// timestamp parse_iso8601 reads as an instant in [start, end]:
///   [low, high)          rows in the canonical 'YYYY-MM-DDTHH:MM...' form and rows of later
///                        dates in any form, and
///   [odd_low, odd_high)  rows of the first date whose form sorts below 'T' (date only,
///                        ' ' separator), which the first range misses.
/// A timestamp's text starts with its local date and time, which lies within 24 hours of the
/// instant whatever the offset; the ranges allow 26 hours. The two ranges never overlap.
struct TextRanges {
    std::string low;
    std::string high;
    std::string odd_low;
    std::string odd_high;
};
TextRanges timestamp_text_ranges(InstantMicros start, InstantMicros end);

/// A text every timestamp whose instant is at or before `instant` sorts below, whatever its
/// offset and form (see timestamp_text_ranges): an upper bound on asap-protocol's index.
std::string timestamp_text_below(InstantMicros instant);

}  // namespace asap_native
