// The metering models: usage events and their aggregate.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace asap_native {

/// A usage counter or total. asap-protocol's counters are Python ints (unbounded); 128 bits
/// hold any real count and any total of them exactly.
__extension__ typedef __int128 UsageCount;

/// Counters carried by one usage event.
struct UsageMetrics {
    UsageCount tokens_in = 0;
    UsageCount tokens_out = 0;
    UsageCount duration_ms = 0;
    UsageCount api_calls = 0;
};

/// One metered unit of work. `timestamp` is ISO-8601 text, kept as given; comparisons use
/// the instant it denotes (a missing UTC offset is read as UTC).
struct UsageEvent {
    std::string task_id;
    std::string agent_id;
    std::string consumer_id;
    UsageMetrics metrics;
    std::string timestamp;
};

/// Totals over an agent's events, computed as asap-protocol computes them, but exactly: they
/// never wrap or turn into floats.
struct UsageAggregate {
    std::string agent_id;
    std::string period;
    UsageCount total_tokens = 0;
    UsageCount total_duration = 0;
    std::int64_t total_tasks = 0;
    UsageCount total_api_calls = 0;
};

/// Throws InvalidArgument unless the counters are >= 0 and the timestamp parses (any ids,
/// empty too, are stored as given, as asap-protocol stores them).
void validate_usage_event(const UsageEvent& event);

/// Serializes metrics as asap-protocol does:
/// {"tokens_in":..,"tokens_out":..,"duration_ms":..,"api_calls":..}.
std::string usage_metrics_to_json(const UsageMetrics& metrics);

/// The four counters of a metrics JSON object, each empty when the key is absent or null.
struct StoredCounters {
    std::optional<UsageCount> tokens_in;
    std::optional<UsageCount> tokens_out;
    std::optional<UsageCount> duration_ms;
    std::optional<UsageCount> api_calls;
};

/// Reads the counters of a metrics column written by asap-protocol or by this library: a
/// JSON object whose counters are integers. Returns nullopt for anything else (malformed
/// JSON, a counter that is a float, a string, an array, a duplicate key, beyond 128 bits),
/// which callers then treat as asap-protocol would. Other keys are ignored.
std::optional<StoredCounters> parse_stored_counters(std::string_view text);

/// The metrics of a stored row, absent counters read as 0. Throws StoreError(InvalidData)
/// naming `event_id` when the column is not an object of non-negative integer counters.
UsageMetrics usage_metrics_from_json(std::string_view text, std::string_view event_id);

/// Decimal text of a count.
std::string usage_count_text(UsageCount count);

/// Adds `value` to `total`; throws StoreError(InvalidData) naming `what` if the sum leaves 128
/// bits.
void add_usage(UsageCount& total, UsageCount value, const std::string& what);

}  // namespace asap_native
