#include "asap_native/usage.hpp"

#include <limits>

#include <nlohmann/json.hpp>

#include "asap_native/errors.hpp"
#include "asap_native/metering_store.hpp"
#include "asap_native/timestamp.hpp"

namespace asap_native {

void validate_usage_event(const UsageEvent& event) {
    if (event.task_id.empty()) throw InvalidArgument("usage event task_id must be non-empty");
    if (event.agent_id.empty()) throw InvalidArgument("usage event agent_id must be non-empty");
    if (event.consumer_id.empty())
        throw InvalidArgument("usage event consumer_id must be non-empty");
    const UsageMetrics& m = event.metrics;
    if (m.tokens_in < 0 || m.tokens_out < 0 || m.duration_ms < 0 || m.api_calls < 0)
        throw InvalidArgument("usage metrics must be >= 0");
    parse_iso8601_or_throw(event.timestamp, "usage event timestamp");
}

void validate_query(const std::string& agent_id, QueryPage page) {
    if (agent_id.empty()) throw InvalidArgument("agent_id must be a non-empty string");
    if (page.offset < 0) throw InvalidArgument("offset must be non-negative");
    if (page.limit && *page.limit < 0) throw InvalidArgument("limit must be non-negative");
}

std::string usage_metrics_to_json(const UsageMetrics& m) {
    std::string out;
    out.reserve(80);
    out += "{\"tokens_in\":";
    out += std::to_string(m.tokens_in);
    out += ",\"tokens_out\":";
    out += std::to_string(m.tokens_out);
    out += ",\"duration_ms\":";
    out += std::to_string(m.duration_ms);
    out += ",\"api_calls\":";
    out += std::to_string(m.api_calls);
    out += '}';
    return out;
}

UsageMetrics usage_metrics_from_json(const std::string& text) {
    const auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object())
        throw StoreError(StoreErrorKind::Other, 0, "stored usage metrics are not a JSON object");
    auto counter = [&](const char* key) -> std::int64_t {
        auto it = json.find(key);
        if (it == json.end() || it->is_null()) return 0;
        // nlohmann reads 2^63..2^64-1 as unsigned; get<int64_t> would wrap it to a negative.
        constexpr auto kMax = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
        if (!it->is_number_integer() ||
            (it->is_number_unsigned() && it->get<std::uint64_t>() > kMax))
            throw StoreError(StoreErrorKind::Other, 0,
                             std::string("stored usage metric '") + key +
                                 "' is not a 64-bit integer");
        return it->get<std::int64_t>();
    };
    return UsageMetrics{counter("tokens_in"), counter("tokens_out"), counter("duration_ms"),
                        counter("api_calls")};
}

}  // namespace asap_native
