// The metering models: usage events and their aggregate.
#pragma once

#include <cstdint>
#include <string>

namespace asap_native {

/// Counters carried by one usage event.
struct UsageMetrics {
    std::int64_t tokens_in = 0;
    std::int64_t tokens_out = 0;
    std::int64_t duration_ms = 0;
    std::int64_t api_calls = 0;
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

/// Totals over an agent's events, computed as asap-protocol computes them.
struct UsageAggregate {
    std::string agent_id;
    std::string period;
    std::int64_t total_tokens = 0;
    std::int64_t total_duration = 0;
    std::int64_t total_tasks = 0;
    std::int64_t total_api_calls = 0;
};

/// Throws InvalidArgument unless the ids are non-empty, the counters are >= 0 and the
/// timestamp parses.
void validate_usage_event(const UsageEvent& event);

/// Serializes metrics as asap-protocol does: {"tokens_in":..,"tokens_out":..,"duration_ms":..,"api_calls":..}.
std::string usage_metrics_to_json(const UsageMetrics& metrics);

/// Parses the metrics column; missing counters read as 0. Throws StoreError on malformed text.
UsageMetrics usage_metrics_from_json(const std::string& text);

}  // namespace asap_native
