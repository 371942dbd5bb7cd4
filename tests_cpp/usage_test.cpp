// Usage events: validation and the metrics column's JSON form.
#include "asap_native/usage.hpp"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>

#include "asap_native/errors.hpp"
#include "asap_native/metering_store.hpp"
#include "test_support.hpp"

namespace asap_native::testing {
namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

TEST(ValidateUsageEvent, AcceptsAValidEvent) {
    EXPECT_NO_THROW(validate_usage_event(make_event("agent", "2024-05-01T08:00:00+02:00")));
    EXPECT_NO_THROW(validate_usage_event(make_event("agent", "2024-05-01T08:00:00Z", 0, 0, 0, 0)));
    EXPECT_NO_THROW(
        validate_usage_event(make_event("agent", "2024-05-01", kMax, kMax, kMax, kMax)));
}

TEST(ValidateUsageEvent, RejectsEmptyIdsNegativeCountersAndBadTimestamps) {
    auto bad = [](auto change) {
        UsageEvent e = make_event("agent", "2024-05-01T08:00:00Z");
        change(e);
        return e;
    };
    EXPECT_THROW(validate_usage_event(bad([](UsageEvent& e) { e.task_id.clear(); })),
                 InvalidArgument);
    EXPECT_THROW(validate_usage_event(bad([](UsageEvent& e) { e.agent_id.clear(); })),
                 InvalidArgument);
    EXPECT_THROW(validate_usage_event(bad([](UsageEvent& e) { e.consumer_id.clear(); })),
                 InvalidArgument);
    EXPECT_THROW(validate_usage_event(bad([](UsageEvent& e) { e.metrics.tokens_in = -1; })),
                 InvalidArgument);
    EXPECT_THROW(validate_usage_event(bad([](UsageEvent& e) {
                     e.metrics.api_calls = std::numeric_limits<std::int64_t>::min();
                 })),
                 InvalidArgument);
    EXPECT_THROW(validate_usage_event(bad([](UsageEvent& e) { e.timestamp.clear(); })),
                 InvalidArgument);
    EXPECT_THROW(validate_usage_event(bad([](UsageEvent& e) { e.timestamp = "2024-13-01"; })),
                 InvalidArgument);
}

TEST(ValidateQuery, RejectsEmptyAgentAndNegativePaging) {
    EXPECT_NO_THROW(validate_query("agent", QueryPage{}));
    EXPECT_NO_THROW(validate_query("agent", QueryPage{0, 0}));
    EXPECT_NO_THROW(validate_query("agent", QueryPage{kMax, kMax}));
    EXPECT_THROW(validate_query("", QueryPage{}), InvalidArgument);
    EXPECT_THROW(validate_query("agent", QueryPage{-1, 0}), InvalidArgument);
    EXPECT_THROW(validate_query("agent", QueryPage{std::nullopt, -1}), InvalidArgument);
}

TEST(UsageMetricsJson, WritesAsapProtocolsKeysInOrder) {
    const std::string text = usage_metrics_to_json(UsageMetrics{1, 22, 333, 4444});
    const auto json = nlohmann::ordered_json::parse(text);
    ASSERT_TRUE(json.is_object());
    std::vector<std::string> keys;
    for (auto it = json.begin(); it != json.end(); ++it) keys.push_back(it.key());
    EXPECT_EQ(keys,
              (std::vector<std::string>{"tokens_in", "tokens_out", "duration_ms", "api_calls"}));
    EXPECT_EQ(json["tokens_in"], 1);
    EXPECT_EQ(json["tokens_out"], 22);
    EXPECT_EQ(json["duration_ms"], 333);
    EXPECT_EQ(json["api_calls"], 4444);
}

TEST(UsageMetricsJson, RoundTripsExtremes) {
    for (const UsageMetrics& m : {UsageMetrics{0, 0, 0, 0}, UsageMetrics{kMax, kMax, kMax, kMax},
                                  UsageMetrics{1, 0, kMax, 7}}) {
        const UsageMetrics back = usage_metrics_from_json(usage_metrics_to_json(m));
        EXPECT_EQ(back.tokens_in, m.tokens_in);
        EXPECT_EQ(back.tokens_out, m.tokens_out);
        EXPECT_EQ(back.duration_ms, m.duration_ms);
        EXPECT_EQ(back.api_calls, m.api_calls);
    }
}

TEST(UsageMetricsJson, ReadsOtherWritersForms) {
    // json.dumps spacing, another key order, extra keys, missing and null counters.
    UsageMetrics m = usage_metrics_from_json(
        R"({"api_calls": 4, "tokens_out": 2, "extra": "x", "tokens_in": 1, "duration_ms": null})");
    EXPECT_EQ(m.tokens_in, 1);
    EXPECT_EQ(m.tokens_out, 2);
    EXPECT_EQ(m.duration_ms, 0);
    EXPECT_EQ(m.api_calls, 4);
    m = usage_metrics_from_json("{}");
    EXPECT_EQ(m.tokens_in + m.tokens_out + m.duration_ms + m.api_calls, 0);
}

TEST(UsageMetricsJson, MalformedTextIsAStoreError) {
    for (const char* text :
         {"", "not json", "[1,2]", "null", "42", R"({"tokens_in":"1"})", R"({"tokens_in":1.5})",
          R"({"tokens_in":true})", R"({"tokens_in":99999999999999999999})", R"({"tokens_in":1)",
          // one beyond int64: must not wrap to a negative count
          R"({"tokens_in":9223372036854775808})"}) {
        try {
            usage_metrics_from_json(text);
            ADD_FAILURE() << "accepted: " << text;
        } catch (const StoreError& e) {
            EXPECT_EQ(e.kind(), StoreErrorKind::Other) << text;
        } catch (const std::exception& e) {
            ADD_FAILURE() << "not a StoreError for " << text << ": " << e.what();
        }
    }
}

}  // namespace
}  // namespace asap_native::testing
