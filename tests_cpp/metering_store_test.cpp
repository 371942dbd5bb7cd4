// The MeteringStore contract, run against every implementation (see store_contracts.hpp).
#include <atomic>
#include <cstdint>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "asap_native/errors.hpp"
#include "asap_native/timestamp.hpp"
#include "store_contracts.hpp"

namespace asap_native::testing {
namespace {

constexpr std::int64_t kMax = std::numeric_limits<std::int64_t>::max();

std::vector<std::string> task_ids(const std::vector<UsageEvent>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.task_id);
    return out;
}

std::vector<std::string> timestamps(const std::vector<UsageEvent>& events) {
    std::vector<std::string> out;
    for (const auto& e : events) out.push_back(e.timestamp);
    return out;
}

using Names = std::vector<std::string>;

TEST_P(MeteringStoreContract, RecordThenQueryReturnsEveryField) {
    UsageEvent e = make_event("agent", "2024-05-01T08:15:00.250000+00:00", 11, 22, 333, 4);
    e.task_id = "task_é";
    e.consumer_id = "consumer_x";
    store().record(e);
    auto got = store().query("agent", utc(2024, 5, 1, 8, 0), utc(2024, 5, 1, 9, 0), {});
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].task_id, "task_é");
    EXPECT_EQ(got[0].agent_id, "agent");
    EXPECT_EQ(got[0].consumer_id, "consumer_x");
    EXPECT_EQ(got[0].metrics.tokens_in, 11);
    EXPECT_EQ(got[0].metrics.tokens_out, 22);
    EXPECT_EQ(got[0].metrics.duration_ms, 333);
    EXPECT_EQ(got[0].metrics.api_calls, 4);
    EXPECT_EQ(got[0].timestamp, "2024-05-01T08:15:00.250000+00:00");  // text kept as given
}

TEST_P(MeteringStoreContract, LargeCountersRoundTrip) {
    store().record(make_event("agent", "2024-05-01T08:00:00Z", kMax, 0, kMax, kMax));
    auto got = store().query("agent", utc(2024, 1, 1, 0, 0), utc(2025, 1, 1, 0, 0), {});
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].metrics.tokens_in, kMax);
    EXPECT_EQ(got[0].metrics.tokens_out, 0);
    EXPECT_EQ(got[0].metrics.duration_ms, kMax);
    EXPECT_EQ(got[0].metrics.api_calls, kMax);
}

// 10:30+02:00 is 08:30Z: inside 08:00Z..09:00Z although its text sorts after "09:00".
TEST_P(MeteringStoreContract, WindowComparesInstantsNotText) {
    const Names inside = {"2024-05-01T10:30:00+02:00", "2024-05-01T08:30:00",
                          "2024-05-01T03:30:00-05:00", "2024-05-01 08:45:00+00:00",
                          "2024-05-01T08:50:00Z"};
    const Names outside = {"2024-05-01T09:30:00+00:00", "2024-05-01T07:59:59.999999Z",
                           "2024-05-01T08:30:00+02:00", "2024-05-01T08:30:00-02:00",
                           "2024-04-30T08:30:00+00:00"};
    for (const auto& t : outside) store().record(make_event("agent", t));
    for (const auto& t : inside) store().record(make_event("agent", t));
    auto got = store().query("agent", utc(2024, 5, 1, 8, 0), utc(2024, 5, 1, 9, 0), {});
    EXPECT_EQ(timestamps(got), inside);
}

TEST_P(MeteringStoreContract, BoundsAreInclusive) {
    store().record(make_event("agent", "2024-05-01T07:59:59.999999+00:00", 1, 0, 0, 0, "before"));
    store().record(make_event("agent", "2024-05-01T10:00:00+02:00", 1, 0, 0, 0, "at_start"));
    store().record(make_event("agent", "2024-05-01T09:00:00Z", 1, 0, 0, 0, "at_end"));
    store().record(make_event("agent", "2024-05-01T09:00:00.000001Z", 1, 0, 0, 0, "after"));
    auto got = store().query("agent", utc(2024, 5, 1, 8, 0), utc(2024, 5, 1, 9, 0), {});
    EXPECT_EQ(task_ids(got), (Names{"at_start", "at_end"}));
    // A window of a single instant.
    got = store().query("agent", utc(2024, 5, 1, 9, 0), utc(2024, 5, 1, 9, 0), {});
    EXPECT_EQ(task_ids(got), (Names{"at_end"}));
}

TEST_P(MeteringStoreContract, EmptyOrReversedWindowReturnsNothing) {
    store().record(make_event("agent", "2024-05-01T08:30:00Z"));
    EXPECT_TRUE(store().query("agent", utc(2024, 5, 1, 9, 0), utc(2024, 5, 1, 8, 0), {}).empty());
    EXPECT_TRUE(store().query("agent", utc(2024, 6, 1, 0, 0), utc(2024, 7, 1, 0, 0), {}).empty());
}

TEST_P(MeteringStoreContract, OrderedByInstantWithTiesInInsertionOrder) {
    store().record(make_event("agent", "2024-05-01T09:00:00+00:00", 1, 0, 0, 0, "e_0900"));
    store().record(make_event("agent", "2024-05-01T10:00:00+02:00", 1, 0, 0, 0, "tie_1"));
    store().record(make_event("agent", "2024-05-01T08:00:00Z", 1, 0, 0, 0, "tie_2"));
    store().record(make_event("agent", "2024-05-01T07:30:00", 1, 0, 0, 0, "e_0730"));
    store().record(make_event("agent", "2024-05-01T07:00:00-01:00", 1, 0, 0, 0, "tie_3"));
    store().record(make_event("agent", "2024-05-01T08:30:00+00:00", 1, 0, 0, 0, "e_0830"));
    store().record(make_event("agent", "2024-05-01T08:00:00.000000+00:00", 1, 0, 0, 0, "tie_4"));
    auto got = store().query("agent", utc(2024, 5, 1, 0, 0), utc(2024, 5, 2, 0, 0), {});
    EXPECT_EQ(task_ids(got),
              (Names{"e_0730", "tie_1", "tie_2", "tie_3", "tie_4", "e_0830", "e_0900"}));
}

TEST_P(MeteringStoreContract, LimitAndOffsetPage) {
    Names all;
    // Recorded newest first so that paging must follow instant order, not insertion order.
    for (int i = 9; i >= 0; --i) {
        const std::string minute = (i < 10 ? "0" : "") + std::to_string(i);
        store().record(make_event("agent", "2024-05-01T08:" + minute + ":00Z", 1, 0, 0, 0,
                                  "m" + std::to_string(i)));
    }
    for (int i = 0; i < 10; ++i) all.push_back("m" + std::to_string(i));
    const auto start = utc(2024, 5, 1, 8, 0);
    const auto end = utc(2024, 5, 1, 9, 0);
    auto page = [&](std::optional<std::int64_t> limit, std::int64_t offset) {
        return task_ids(store().query("agent", start, end, QueryPage{limit, offset}));
    };
    EXPECT_EQ(page(std::nullopt, 0), all);
    EXPECT_EQ(page(3, 0), (Names{"m0", "m1", "m2"}));
    EXPECT_EQ(page(3, 4), (Names{"m4", "m5", "m6"}));
    EXPECT_EQ(page(5, 8), (Names{"m8", "m9"}));
    EXPECT_EQ(page(std::nullopt, 7), (Names{"m7", "m8", "m9"}));
    EXPECT_TRUE(page(0, 0).empty());
    EXPECT_TRUE(page(std::nullopt, 10).empty());
    EXPECT_TRUE(page(2, 50).empty());
    EXPECT_EQ(page(kMax, 1).size(), 9u);
    EXPECT_EQ(page(kMax, 0), all);
    EXPECT_TRUE(page(kMax, kMax).empty());
    EXPECT_TRUE(page(1, kMax).empty());
    // Pages of 3 put back together give the whole list.
    Names joined;
    for (std::int64_t offset = 0; offset < 12; offset += 3) {
        auto part = page(3, offset);
        joined.insert(joined.end(), part.begin(), part.end());
    }
    EXPECT_EQ(joined, all);
}

TEST_P(MeteringStoreContract, WholeInstantRangeIsQueryable) {
    store().record(make_event("agent", "9999-12-31T23:59:59.999999+00:00", 1, 0, 0, 0, "last"));
    store().record(make_event("agent", "0001-01-01T00:00:00+00:00", 1, 0, 0, 0, "first"));
    auto all = store().query("agent", std::numeric_limits<InstantMicros>::min(),
                             std::numeric_limits<InstantMicros>::max(), {});
    EXPECT_EQ(task_ids(all), (Names{"first", "last"}));
}

TEST_P(MeteringStoreContract, QueryOnlyReturnsTheAgentsEvents) {
    store().record(make_event("agent_a", "2024-05-01T08:10:00Z", 1, 0, 0, 0, "a1"));
    store().record(make_event("agent_b", "2024-05-01T08:20:00Z", 1, 0, 0, 0, "b1"));
    store().record(make_event("agent", "2024-05-01T08:25:00Z", 1, 0, 0, 0, "prefix"));
    store().record(make_event("agent_a", "2024-05-01T08:30:00Z", 1, 0, 0, 0, "a2"));
    const auto start = utc(2024, 5, 1, 0, 0);
    const auto end = utc(2024, 5, 2, 0, 0);
    EXPECT_EQ(task_ids(store().query("agent_a", start, end, {})), (Names{"a1", "a2"}));
    EXPECT_EQ(task_ids(store().query("agent_b", start, end, {})), (Names{"b1"}));
    EXPECT_EQ(task_ids(store().query("agent", start, end, {})), (Names{"prefix"}));
    EXPECT_TRUE(store().query("agent_c", start, end, {}).empty());
}

TEST_P(MeteringStoreContract, AggregateTotalsEveryEventOfTheAgent) {
    std::int64_t tokens = 0, duration = 0, calls = 0;
    for (int i = 0; i < 7; ++i) {
        const std::int64_t in = 100 + i, out = 7 * i, ms = 1000 * i + 5, api = i % 3;
        tokens += in + out;
        duration += ms;
        calls += api;
        // Spread over years: the aggregate is not limited to any window.
        store().record(make_event("agent", "20" + std::to_string(20 + i) + "-03-01T12:00:00+05:00",
                                  in, out, ms, api));
    }
    store().record(make_event("other", "2024-05-01T08:00:00Z", 1000, 1000, 1000, 1000));
    UsageAggregate total = store().aggregate("agent", "day");
    EXPECT_EQ(total.agent_id, "agent");
    EXPECT_EQ(total.period, "day");
    EXPECT_EQ(total.total_tokens, tokens);
    EXPECT_EQ(total.total_duration, duration);
    EXPECT_EQ(total.total_api_calls, calls);
    EXPECT_EQ(total.total_tasks, 7);
    EXPECT_EQ(store().aggregate("agent", "whatever-the-caller-says").period,
              "whatever-the-caller-says");
}

TEST_P(MeteringStoreContract, AggregateOfUnknownAgentIsZero) {
    store().record(make_event("agent", "2024-05-01T08:00:00Z"));
    UsageAggregate total = store().aggregate("nobody", "hour");
    EXPECT_EQ(total.agent_id, "nobody");
    EXPECT_EQ(total.period, "hour");
    EXPECT_EQ(total.total_tokens, 0);
    EXPECT_EQ(total.total_duration, 0);
    EXPECT_EQ(total.total_tasks, 0);
    EXPECT_EQ(total.total_api_calls, 0);
}

TEST_P(MeteringStoreContract, AggregateWithZeroCounters) {
    store().record(make_event("agent", "2024-05-01T08:00:00Z", 0, 0, 0, 0));
    store().record(make_event("agent", "2024-05-01T08:01:00Z", 0, 0, 0, 0));
    UsageAggregate total = store().aggregate("agent", "hour");
    EXPECT_EQ(total.total_tasks, 2);
    EXPECT_EQ(total.total_tokens, 0);
    EXPECT_EQ(total.total_duration, 0);
    EXPECT_EQ(total.total_api_calls, 0);
}

// Totals beyond 64 bits are exact (asap-protocol's SQL turns them into a float, then clamps),
// within one event as across events; only beyond 128 bits is there an error.
TEST_P(MeteringStoreContract, AggregateTotalsAreExactBeyond64Bits) {
    store().record(make_event("agent", "2024-05-01T08:00:00Z", kMax, kMax, kMax, 1));
    store().record(make_event("agent", "2024-05-01T08:01:00Z", kMax / 2 + 1, 0, kMax, kMax));
    const UsageCount big = kMax;
    const UsageAggregate total = store().aggregate("agent", "hour");
    EXPECT_EQ(usage_count_text(total.total_tokens), usage_count_text(2 * big + big / 2 + 1));
    EXPECT_EQ(usage_count_text(total.total_duration), usage_count_text(2 * big));
    EXPECT_EQ(usage_count_text(total.total_api_calls), usage_count_text(big + 1));
    EXPECT_EQ(total.total_tasks, 2);
}

TEST_P(MeteringStoreContract, AggregateBeyond128BitsIsAnError) {
    const UsageCount half = static_cast<UsageCount>(1) << 126;
    store().record(make_event("agent", "2024-05-01T08:00:00Z", half, 0, 0, 0));
    store().record(make_event("agent", "2024-05-01T08:01:00Z", half, 0, 0, 0));
    EXPECT_THROW(store().aggregate("agent", "hour"), StoreError);
    // The store is still usable.
    EXPECT_EQ(store().query("agent", utc(2024, 5, 1, 8, 0), utc(2024, 5, 1, 9, 0), {}).size(), 2u);
}

TEST_P(MeteringStoreContract, InvalidArgumentsAreRejectedAndNothingIsRecorded) {
    store().record(make_event("agent", "2024-05-01T08:00:00Z"));
    auto bad = [](auto change) {
        UsageEvent e = make_event("agent", "2024-05-01T08:30:00Z");
        change(e);
        return e;
    };
    EXPECT_THROW(store().record(bad([](UsageEvent& e) { e.metrics.tokens_in = -1; })),
                 InvalidArgument);
    EXPECT_THROW(store().record(bad([](UsageEvent& e) { e.metrics.tokens_out = -1; })),
                 InvalidArgument);
    EXPECT_THROW(store().record(bad([](UsageEvent& e) { e.metrics.duration_ms = -1; })),
                 InvalidArgument);
    EXPECT_THROW(store().record(bad([](UsageEvent& e) { e.metrics.api_calls = -1; })),
                 InvalidArgument);
    for (const char* timestamp : {"", "yesterday", "2024-02-30T08:00:00Z", "2024-05-01T24:00:00Z",
                                  "2024-05-01T08:00:00+25:00", "2024-05-01T08:00:00 UTC"}) {
        EXPECT_THROW(store().record(bad([&](UsageEvent& e) { e.timestamp = timestamp; })),
                     InvalidArgument)
            << timestamp;
    }
    const auto start = utc(2024, 5, 1, 0, 0);
    const auto end = utc(2024, 5, 2, 0, 0);
    EXPECT_THROW(store().query("agent", start, end, QueryPage{std::nullopt, -1}), InvalidArgument);
    EXPECT_THROW(store().query("agent", start, end, QueryPage{3, -1}), InvalidArgument);
    // Empty ids are ids (asap-protocol stores them): an agent nobody recorded has nothing.
    EXPECT_TRUE(store().query("", start, end, {}).empty());
    EXPECT_EQ(store().aggregate("", "day").total_tasks, 0);

    EXPECT_EQ(store().aggregate("agent", "day").total_tasks, 1);
    EXPECT_EQ(store().query("agent", start, end, {}).size(), 1u);
    store().record(make_event("agent", "2024-05-01T08:30:00Z"));
    EXPECT_EQ(store().aggregate("agent", "day").total_tasks, 2);
}

// Recorders, queriers and aggregators at once; every event is found afterwards with its
// values, and no reader ever sees a partial or out-of-order result.
TEST_P(MeteringStoreContract, ConcurrentRecordQueryAndAggregate) {
    constexpr int kWriters = 4;
    constexpr int kReaders = 3;
    constexpr int kEvents = 60;
    const auto start = utc(2024, 5, 1, 0, 0);
    const auto end = utc(2024, 5, 2, 0, 0);
    auto write = [&](int w, std::atomic<int>&) {
        for (int i = 0; i < kEvents; ++i) {
            // Writer w's events are 1 minute apart, offset by w seconds, in mixed zones.
            const int minute = i % 60;
            const std::string mm = (minute < 10 ? "0" : "") + std::to_string(minute);
            const std::string ss = "0" + std::to_string(w);
            const std::string stamp = w % 2 == 0 ? "2024-05-01T08:" + mm + ":" + ss + "Z"
                                                 : "2024-05-01T10:" + mm + ":" + ss + "+02:00";
            store().record(make_event("agent", stamp, w, i, w * 1000 + i, 1,
                                      "w" + std::to_string(w) + "_" + std::to_string(i)));
        }
    };
    auto read = [&](int, const std::function<bool()>& writing, std::atomic<int>& failures) {
        std::int64_t last_count = 0;
        while (writing()) {
            auto events = store().query("agent", start, end, {});
            if (static_cast<std::int64_t>(events.size()) < last_count) ++failures;
            last_count = static_cast<std::int64_t>(events.size());
            InstantMicros previous = std::numeric_limits<InstantMicros>::min();
            for (const auto& e : events) {
                const auto instant = parse_iso8601(e.timestamp);
                if (!instant || *instant < previous) ++failures;
                if (instant) previous = *instant;
                // Values belong together: duration encodes writer and index.
                const std::string expected = "w" + usage_count_text(e.metrics.tokens_in) + "_" +
                                             usage_count_text(e.metrics.tokens_out);
                if (e.task_id != expected ||
                    e.metrics.duration_ms != e.metrics.tokens_in * 1000 + e.metrics.tokens_out)
                    ++failures;
            }
            auto total = store().aggregate("agent", "day");
            if (total.total_tasks != total.total_api_calls) ++failures;
        }
    };
    EXPECT_EQ(run_writers_and_readers(kWriters, kReaders, write, read), 0);

    auto events = store().query("agent", start, end, {});
    ASSERT_EQ(events.size(), static_cast<std::size_t>(kWriters * kEvents));
    std::vector<std::vector<int>> seen(kWriters, std::vector<int>(kEvents, 0));
    for (const auto& e : events) {
        ASSERT_GE(e.metrics.tokens_in, 0);
        ASSERT_LT(e.metrics.tokens_in, kWriters);
        ASSERT_GE(e.metrics.tokens_out, 0);
        ASSERT_LT(e.metrics.tokens_out, kEvents);
        seen[static_cast<std::size_t>(e.metrics.tokens_in)]
            [static_cast<std::size_t>(e.metrics.tokens_out)]++;
    }
    for (const auto& row : seen)
        for (int count : row) EXPECT_EQ(count, 1);
    std::int64_t tokens = 0, duration = 0;
    for (int w = 0; w < kWriters; ++w)
        for (int i = 0; i < kEvents; ++i) {
            tokens += w + i;
            duration += w * 1000 + i;
        }
    UsageAggregate total = store().aggregate("agent", "day");
    EXPECT_EQ(total.total_tasks, kWriters * kEvents);
    EXPECT_EQ(total.total_tokens, tokens);
    EXPECT_EQ(total.total_duration, duration);
    EXPECT_EQ(total.total_api_calls, kWriters * kEvents);
}

}  // namespace
}  // namespace asap_native::testing
