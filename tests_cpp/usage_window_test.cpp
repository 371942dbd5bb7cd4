// Time windows of SqliteMeteringStore: both plans (the instant index, and asap-protocol's text
// index with a margin) against a brute-force oracle over every timestamp form the parser
// accepts; the query plans; the instant key against parse_iso8601; the text bounds.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "asap_native/sqlite_metering_store.hpp"
#include "asap_native/timestamp.hpp"
#include "asap_native/usage_index.hpp"
#include "test_support.hpp"

namespace asap_native::testing {
namespace {

constexpr InstantMicros kSecond = 1000000;
constexpr InstantMicros kHour = 3600 * kSecond;

// ---- text bounds ----

TEST(UtcMinuteText, FormatsTheMinuteInUtc) {
    EXPECT_EQ(utc_minute_text(0), "1970-01-01T00:00");
    EXPECT_EQ(utc_minute_text(utc(2024, 2, 29, 23, 59, 59, 999999)), "2024-02-29T23:59");
    EXPECT_EQ(utc_minute_text(-1), "1969-12-31T23:59");
    EXPECT_EQ(utc_minute_text(*parse_iso8601("0001-01-01T00:00:00")), "0001-01-01T00:00");
    EXPECT_EQ(utc_minute_text(*parse_iso8601("9999-12-31T23:59:59.999999")), "9999-12-31T23:59");
    // Every minute boundary of a leap day agrees with the C library.
    for (int minute = 0; minute < 1440; minute += 7) {
        char expected[32];
        std::snprintf(expected, sizeof expected, "2000-02-29T%02d:%02d", minute / 60, minute % 60);
        EXPECT_EQ(utc_minute_text(utc(2000, 2, 29, minute / 60, minute % 60, 30)), expected);
    }
}

TEST(TimestampTextRanges, BoundsAndOddFormsRange) {
    const TextRanges ranges =
        timestamp_text_ranges(utc(2024, 5, 17, 8, 30, 15), utc(2024, 5, 17, 9));
    EXPECT_EQ(ranges.low, "2024-05-16T06:30");
    EXPECT_EQ(ranges.high, "2024-05-18T11:01");
    EXPECT_EQ(ranges.odd_low, "2024-05-16");
    EXPECT_EQ(ranges.odd_high, "2024-05-16T");
    // Any bounds at all: the extremes open the ranges instead of overflowing.
    const TextRanges all = timestamp_text_ranges(std::numeric_limits<InstantMicros>::min(),
                                                 std::numeric_limits<InstantMicros>::max());
    EXPECT_EQ(all.low, "");
    EXPECT_EQ(all.high, ":");
    EXPECT_EQ(all.odd_low, all.odd_high);  // empty
}

// ---- the instant key ----

// Every form the parser accepts, at instants around `base`.
std::vector<std::string> forms_of(const std::string& date, const std::string& time,
                                  const std::string& fraction) {
    std::vector<std::string> out{date};  // date only
    const std::vector<std::string> offsets = {
        "",       "Z",      "z",      "+00:00", "-00:00", "+02:00", "-07:00",    "+05:30",
        "+14:59", "-14:59", "+15:00", "-15:00", "+23:59", "-23:59", "+01:02:03", "-04:05:06.5"};
    for (const char* separator : {"T", " "})
        for (const std::string& offset : offsets) {
            out.push_back(date + separator + time.substr(0, 5) + offset);  // no seconds
            out.push_back(date + separator + time + offset);
            out.push_back(date + separator + time + "." + fraction + offset);
            out.push_back(date + separator + time + "," + fraction + offset);
        }
    return out;
}

TEST(InstantKey, IsFloorOfTheInstantOrNullForEveryAcceptedForm) {
    RawDb db(":memory:");
    const std::string key = instant_key_sql();
    std::mt19937 random(20240517);
    int checked = 0, null_keys = 0;
    for (int i = 0; i < 300; ++i) {
        const int year = 1 + static_cast<int>(random() % 9999);
        const int month = 1 + static_cast<int>(random() % 12);
        const int day = 1 + static_cast<int>(random() % 28);
        char date[16], time[16], fraction[16];
        std::snprintf(date, sizeof date, "%04d-%02d-%02d", year, month, day);
        std::snprintf(time, sizeof time, "%02d:%02d:%02d", static_cast<int>(random() % 24),
                      static_cast<int>(random() % 60), static_cast<int>(random() % 60));
        // Fractions near a whole second are where a rounding SQLite would differ.
        const char* fractions[] = {"0", "5", "999", "999999", "9999999", "000001", "123456"};
        std::snprintf(fraction, sizeof fraction, "%s", fractions[random() % 7]);
        for (const std::string& text : forms_of(date, time, fraction)) {
            const auto instant = parse_iso8601(text);
            if (!instant) continue;
            sqlite3_stmt* stmt = nullptr;
            std::string sql = "SELECT " + key;
            for (std::size_t at; (at = sql.find("timestamp")) != std::string::npos;)
                sql.replace(at, 9, "?1");
            ASSERT_EQ(sqlite3_prepare_v2(db.handle(), sql.c_str(), -1, &stmt, nullptr), SQLITE_OK);
            sqlite3_bind_text(stmt, 1, text.c_str(), -1, SQLITE_TRANSIENT);
            ASSERT_EQ(sqlite3_step(stmt), SQLITE_ROW);
            if (sqlite3_column_type(stmt, 0) == SQLITE_NULL) {
                ++null_keys;
            } else {
                std::int64_t floor_seconds = *instant / kSecond;
                if (*instant % kSecond < 0) --floor_seconds;
                EXPECT_EQ(sqlite3_column_int64(stmt, 0), floor_seconds) << text;
            }
            sqlite3_finalize(stmt);
            ++checked;
        }
    }
    EXPECT_GT(checked, 10000);
    EXPECT_GT(null_keys, 0);  // the forms SQLite does not read are among them
}

// ---- both plans against an oracle ----

struct Stored {
    std::string timestamp;
    InstantMicros instant;
    int order;
};

class UsageWindowTest : public ::testing::TestWithParam<bool> {
protected:
    TempDir dir_;
    std::string path_ = dir_.file("windows.db");
};

std::string text_at(InstantMicros instant, int offset_minutes, int form, std::mt19937& random) {
    // Wall time at the offset, then one of the forms.
    const InstantMicros wall = instant + offset_minutes * 60 * kSecond;
    std::string minute = utc_minute_text(wall);
    const InstantMicros in_minute = ((wall % (60 * kSecond)) + 60 * kSecond) % (60 * kSecond);
    char seconds[16];
    std::snprintf(seconds, sizeof seconds, ":%02lld", static_cast<long long>(in_minute / kSecond));
    char micros[16];
    std::snprintf(micros, sizeof micros, ".%06lld", static_cast<long long>(in_minute % kSecond));
    char offset[16];
    const int magnitude = offset_minutes < 0 ? -offset_minutes : offset_minutes;
    std::snprintf(offset, sizeof offset, "%c%02d:%02d", offset_minutes < 0 ? '-' : '+',
                  magnitude / 60, magnitude % 60);
    const std::string suffix =
        offset_minutes == 0 && random() % 3 == 0 ? (random() % 2 ? "Z" : "") : std::string(offset);
    switch (form) {
        case 0:  // isoformat() with microseconds
            return minute + seconds + micros + suffix;
        case 1:  // space separator
            return minute.substr(0, 10) + " " + minute.substr(11) + seconds + micros + suffix;
        case 2:  // no seconds (truncates the instant to the minute)
            return minute + suffix;
        default:  // whole seconds
            return minute + seconds + suffix;
    }
}

TEST_P(UsageWindowTest, EveryWindowMatchesTheOracle) {
    const bool instant_index = GetParam();
    SqliteMeteringStore store(path_, {}, MeteringOptions{instant_index});
    EXPECT_EQ(store.uses_instant_index(), instant_index);
    std::mt19937 random(instant_index ? 11 : 12);
    const InstantMicros base = utc(2024, 5, 17, 12);
    const int offsets[] = {0, 0, 0, 120, -420, 330, 899, -899, 900, 1439, -1439, 60, -60};
    std::vector<Stored> stored;
    for (int i = 0; i < 1500; ++i) {
        const InstantMicros instant =
            base + static_cast<InstantMicros>(random() % (120 * 3600)) * kSecond - 60 * kHour +
            static_cast<InstantMicros>(random() % kSecond);
        const int offset = offsets[random() % (sizeof offsets / sizeof offsets[0])];
        std::string text;
        if (random() % 50 == 0) {
            text = utc_minute_text(instant).substr(0, 10);  // date only
        } else {
            text = text_at(instant, offset, static_cast<int>(random() % 4), random);
        }
        const auto parsed = parse_iso8601(text);
        ASSERT_TRUE(parsed) << text;
        store.record(make_event(i % 5 == 0 ? "other" : "agent", text, i));
        if (i % 5 != 0) stored.push_back({text, *parsed, i});
    }
    std::stable_sort(stored.begin(), stored.end(),
                     [](const Stored& a, const Stored& b) { return a.instant < b.instant; });
    for (int round = 0; round < 300; ++round) {
        InstantMicros start =
            base - 70 * kHour + static_cast<InstantMicros>(random() % (140 * 3600)) * kSecond;
        InstantMicros length =
            static_cast<InstantMicros>(random() % (round % 3 == 0 ? 600 : 7200)) * kSecond;
        if (round % 10 == 0) length = 30 * kHour;
        const InstantMicros end = start + length;
        QueryPage page;
        if (round % 4 == 1) page.limit = static_cast<std::int64_t>(random() % 20);
        if (round % 4 == 2) page.offset = static_cast<std::int64_t>(random() % 10);
        std::vector<int> expected;
        for (const Stored& s : stored)
            if (s.instant >= start && s.instant <= end) expected.push_back(s.order);
        const std::size_t from = std::min<std::size_t>(expected.size(), page.offset);
        std::size_t to = expected.size();
        if (page.limit) to = std::min<std::size_t>(to, from + *page.limit);
        expected = std::vector<int>(expected.begin() + from, expected.begin() + to);
        std::vector<int> got;
        for (const UsageEvent& event : store.query("agent", start, end, page))
            got.push_back(static_cast<int>(event.metrics.tokens_in));
        ASSERT_EQ(got, expected) << "window " << start << ".." << end << " round " << round;
    }
}

TEST_P(UsageWindowTest, PlanSearchesAnIndexRangeAndNeverScans) {
    const bool instant_index = GetParam();
    SqliteMeteringStore store(path_, {}, MeteringOptions{instant_index});
    for (int i = 0; i < 20; ++i) store.record(make_event("agent", "2024-05-17T08:30:00+02:00"));
    const std::vector<std::string> plan =
        store.explain_query("agent", utc(2024, 5, 17, 6), utc(2024, 5, 17, 7), QueryPage{});
    std::string all;
    for (const std::string& line : plan) all += line + "\n";
    const std::string range =
        instant_index ? std::string("SEARCH usage_events USING INDEX ") + kInstantIndexName +
                            " (agent_id=? AND <expr>>? AND <expr><?)"
                      : "SEARCH usage_events USING INDEX idx_usage_agent_timestamp (agent_id=? AND "
                        "timestamp>? AND timestamp<?)";
    EXPECT_NE(all.find(range), std::string::npos) << all;
    EXPECT_EQ(all.find("SCAN usage_events"), std::string::npos) << all;
    // Each arm is a search with the agent and a bound on the index's second column.
    int searches = 0;
    for (const std::string& line : plan) {
        if (line.rfind("SEARCH usage_events", 0) != 0) continue;
        ++searches;
        EXPECT_NE(line.find("(agent_id=? AND "), std::string::npos) << line;
    }
    EXPECT_EQ(searches, 2) << all;
}

INSTANTIATE_TEST_SUITE_P(Plans, UsageWindowTest, ::testing::Values(true, false),
                         [](const ::testing::TestParamInfo<bool>& plan) {
                             return plan.param ? "InstantIndex" : "TextIndex";
                         });

// ---- the instant index in the file ----

TEST(InstantIndex, IsCreatedOnceAndAsapStyleInsertsKeepItConsistent) {
    TempDir dir;
    const std::string path = dir.file("shared.db");
    {
        SqliteMeteringStore store(path, {}, MeteringOptions{true});
        EXPECT_TRUE(store.uses_instant_index());
        store.record(make_event("agent", "2024-05-17T08:30:00.999999+02:00"));
    }
    RawDb raw(path);  // another program's connection: no asap_instant, built-ins only
    raw.exec(
        "INSERT INTO usage_events VALUES ('evt_x', 't', 'agent', 'c', '{}', "
        "'2024-05-17T06:45:00.123456+00:00'), ('evt_y', 't', 'agent', 'c', '{}', "
        "'2024-05-17T06:50:00+15:00')");
    EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
    EXPECT_EQ(raw.integer("SELECT count(*) FROM sqlite_master WHERE name = '" +
                          std::string(kInstantIndexName) + "'"),
              1);
    SqliteMeteringStore store(path);  // the index is used whenever the file has it
    EXPECT_TRUE(store.uses_instant_index());
    const auto events = store.query("agent", utc(2024, 5, 16, 15), utc(2024, 5, 17, 7), {});
    ASSERT_EQ(events.size(), 3u);  // ordered by instant
    EXPECT_EQ(events[0].timestamp, "2024-05-17T06:50:00+15:00");
    EXPECT_EQ(events[1].timestamp, "2024-05-17T08:30:00.999999+02:00");
    EXPECT_EQ(events[2].timestamp, "2024-05-17T06:45:00.123456+00:00");
    raw.exec("DELETE FROM usage_events");
    EXPECT_EQ(raw.text("PRAGMA integrity_check"), "ok");
}

TEST(InstantIndex, NotCreatedByDefaultAndDroppedIndexFallsBack) {
    TempDir dir;
    const std::string path = dir.file("plain.db");
    {
        SqliteMeteringStore store(path);
        EXPECT_FALSE(store.uses_instant_index());
    }
    RawDb raw(path);
    EXPECT_EQ(raw.integer("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND "
                          "tbl_name = 'usage_events' AND sql IS NOT NULL"),
              2);
    SqliteMeteringStore store(path, {}, MeteringOptions{true});  // creates it
    EXPECT_TRUE(store.uses_instant_index());
    store.record(make_event("agent", "2024-05-17T08:30:00+02:00"));
    raw.exec(std::string("DROP INDEX ") + kInstantIndexName);
    const auto events = store.query("agent", utc(2024, 5, 17, 6), utc(2024, 5, 17, 7), {});
    ASSERT_EQ(events.size(), 1u);
    EXPECT_FALSE(store.uses_instant_index());
}

}  // namespace
}  // namespace asap_native::testing
