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

TEST(ValidateUsageEvent, RejectsNegativeCountersAndBadTimestamps) {
    auto bad = [](auto change) {
        UsageEvent e = make_event("agent", "2024-05-01T08:00:00Z");
        change(e);
        return e;
    };
    // Empty ids are ids: asap-protocol stores them.
    EXPECT_NO_THROW(validate_usage_event(bad([](UsageEvent& e) { e.task_id.clear(); })));
    EXPECT_NO_THROW(validate_usage_event(bad([](UsageEvent& e) { e.agent_id.clear(); })));
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

TEST(ValidateQuery, RejectsOnlyANegativeOffset) {
    EXPECT_NO_THROW(validate_query("agent", QueryPage{}));
    EXPECT_NO_THROW(validate_query("agent", QueryPage{0, 0}));
    EXPECT_NO_THROW(validate_query("agent", QueryPage{kMax, kMax}));
    EXPECT_NO_THROW(validate_query("", QueryPage{}));
    EXPECT_NO_THROW(
        validate_query("agent", QueryPage{-1, 0}));  // each store reads it (see QueryPage)
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

// The largest count: 2^127 - 1.
const UsageCount kCountMax = ~static_cast<UsageCount>(0) ^ (static_cast<UsageCount>(1) << 127);

TEST(UsageMetricsJson, RoundTripsExtremes) {
    const UsageCount beyond_64_bits = static_cast<UsageCount>(1) << 64;
    for (const UsageMetrics& m :
         {UsageMetrics{0, 0, 0, 0}, UsageMetrics{kMax, kMax, kMax, kMax},
          UsageMetrics{1, 0, kMax, 7}, UsageMetrics{beyond_64_bits, kCountMax, 0, kCountMax}}) {
        const UsageMetrics back = usage_metrics_from_json(usage_metrics_to_json(m), "evt_1");
        EXPECT_TRUE(back.tokens_in == m.tokens_in);
        EXPECT_TRUE(back.tokens_out == m.tokens_out);
        EXPECT_TRUE(back.duration_ms == m.duration_ms);
        EXPECT_TRUE(back.api_calls == m.api_calls);
    }
    EXPECT_EQ(usage_count_text(kCountMax), "170141183460469231731687303715884105727");
    EXPECT_EQ(usage_count_text(-kCountMax - 1), "-170141183460469231731687303715884105728");
    EXPECT_EQ(usage_count_text(beyond_64_bits), "18446744073709551616");
}

TEST(UsageMetricsJson, ReadsOtherWritersForms) {
    // json.dumps spacing, another key order, extra keys, missing and null counters.
    UsageMetrics m = usage_metrics_from_json(
        R"( {"api_calls": 4, "tokens_out": 2, "extra": "x", "n": 1.5e3, "ok": true,)"
        R"( "tokens_in": 1, "duration_ms": null} )",
        "evt_1");
    EXPECT_TRUE(m.tokens_in == 1);
    EXPECT_TRUE(m.tokens_out == 2);
    EXPECT_TRUE(m.duration_ms == 0);
    EXPECT_TRUE(m.api_calls == 4);
    m = usage_metrics_from_json("{}", "evt_1");
    EXPECT_TRUE(m.tokens_in + m.tokens_out + m.duration_ms + m.api_calls == 0);
}

TEST(UsageMetricsJson, StoredCountersKeepNullApartFromZero) {
    const auto counters = parse_stored_counters(R"({"tokens_in":0,"tokens_out":null})");
    ASSERT_TRUE(counters);
    EXPECT_TRUE(counters->tokens_in && *counters->tokens_in == 0);
    EXPECT_FALSE(counters->tokens_out);
    EXPECT_FALSE(counters->duration_ms);
    // Shapes the fast reader leaves to SQLite's own reading (asap-protocol's CAST semantics).
    for (const char* text :
         {R"({"tokens_in":"1"})", R"({"tokens_in":1.5})", R"({"tokens_in":1e3})",
          R"({"tokens_in":true})", R"({"tokens_in":[1]})", R"({"tokens_in":1,"tokens_in":2})",
          R"({"tok\u0065ns_in":1})", R"({"x":{"y":1}})", R"({"tokens_in":01})",
          R"({"tokens_in":170141183460469231731687303715884105728})", R"({"a":1} x)", "[]", ""})
        EXPECT_FALSE(parse_stored_counters(text)) << text;
}

TEST(UsageMetricsJson, UnreadableMetricsNameTheEvent) {
    for (const char* text :
         {"", "not json", "[1,2]", "null", "42", R"({"tokens_in":"1"})", R"({"tokens_in":1.5})",
          R"({"tokens_in":true})", R"({"tokens_in":-1})", R"({"tokens_in":1)",
          // 2^127: beyond what a count holds, never wrapped
          R"({"tokens_in":170141183460469231731687303715884105728})"}) {
        try {
            usage_metrics_from_json(text, "evt_42");
            ADD_FAILURE() << "accepted: " << text;
        } catch (const StoreError& e) {
            EXPECT_EQ(e.kind(), StoreErrorKind::InvalidData) << text;
            EXPECT_NE(std::string(e.what()).find("evt_42"), std::string::npos) << e.what();
        } catch (const std::exception& e) {
            ADD_FAILURE() << "not a StoreError for " << text << ": " << e.what();
        }
    }
}

TEST(UsageTotals, AddUsageIsCheckedAt128Bits) {
    UsageCount total = kCountMax - 1;
    add_usage(total, 1, "totals");
    EXPECT_TRUE(total == kCountMax);
    EXPECT_THROW(add_usage(total, 1, "totals"), StoreError);
}

}  // namespace
}  // namespace asap_native::testing
