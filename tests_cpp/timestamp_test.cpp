// The ISO-8601 parser: the forms Python's isoformat() writes, offsets, leap years, rejections.
#include "asap_native/timestamp.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <string>

#include "asap_native/errors.hpp"
#include "test_support.hpp"

namespace asap_native {
namespace {

constexpr std::int64_t kSecond = 1000000;

using testing::utc;

InstantMicros parse(const std::string& text) {
    auto instant = parse_iso8601(text);
    EXPECT_TRUE(instant.has_value()) << "did not parse: '" << text << "'";
    return instant.value_or(0);
}

TEST(ParseIso8601, Epoch) {
    EXPECT_EQ(parse("1970-01-01T00:00:00+00:00"), 0);
    EXPECT_EQ(parse("1970-01-01"), 0);
}

TEST(ParseIso8601, FormsPythonIsoformatWrites) {
    const InstantMicros base = utc(2024, 5, 1, 10, 30, 45);
    EXPECT_EQ(parse("2024-05-01T10:30:45"), base);                        // naive: UTC
    EXPECT_EQ(parse("2024-05-01T10:30:45+00:00"), base);                  // aware UTC
    EXPECT_EQ(parse("2024-05-01 10:30:45+00:00"), base);                  // sep=' '
    EXPECT_EQ(parse("2024-05-01T10:30:45.123456+00:00"), base + 123456);  // microseconds
    EXPECT_EQ(parse("2024-05-01T10:30:45.123+00:00"), base + 123000);     // timespec=ms
    EXPECT_EQ(parse("2024-05-01T10:30:45.000001"), base + 1);
    EXPECT_EQ(parse("2024-05-01T10:30"), utc(2024, 5, 1, 10, 30));  // timespec=minutes
    EXPECT_EQ(parse("2024-05-01T10:30+00:00"), utc(2024, 5, 1, 10, 30));
    EXPECT_EQ(parse("2024-05-01"), utc(2024, 5, 1));  // date.isoformat()
    EXPECT_EQ(parse("2024-05-01T10:30:45Z"), base);   // what JavaScript and asap's Z form write
    EXPECT_EQ(parse("2024-05-01T10:30:45.5Z"), base + 500000);
    EXPECT_EQ(parse("2024-05-01T10:30:45,25+00:00"), base + 250000);  // ISO's decimal comma
    // More than six fraction digits are truncated, as Python does.
    EXPECT_EQ(parse("2024-05-01T10:30:45.1234567"), base + 123456);
}

TEST(ParseIso8601, OffsetsGiveTheSameInstant) {
    const InstantMicros instant = utc(2024, 5, 1, 8, 30);
    EXPECT_EQ(parse("2024-05-01T10:30:00+02:00"), instant);
    EXPECT_EQ(parse("2024-05-01T03:30:00-05:00"), instant);
    EXPECT_EQ(parse("2024-05-01T14:00:00+05:30"), instant);
    EXPECT_EQ(parse("2024-05-01T08:30:00-00:00"), instant);
    EXPECT_EQ(parse("2024-05-01T22:15:00+13:45"), instant);
    EXPECT_EQ(parse("2024-04-30T20:30:00-12:00"), instant);  // crosses the date line
    EXPECT_EQ(parse("2024-05-01T10:30:00.000007+02:00"), instant + 7);
    // Offsets with seconds (and a fraction, ignored) exist in Python.
    EXPECT_EQ(parse("2024-05-01T08:30:15+00:00:15"), instant);
    EXPECT_EQ(parse("2024-05-01T08:30:15+00:00:15.000000"), instant);
    EXPECT_EQ(parse("2024-05-01T08:29:45-00:00:15"), instant);
    EXPECT_EQ(parse("2024-05-01T23:59:00+23:59"), utc(2024, 5, 1));
}

TEST(ParseIso8601, BeforeTheEpochIsNegative) {
    EXPECT_EQ(parse("1969-12-31T23:59:59+00:00"), -kSecond);
    EXPECT_EQ(parse("1969-12-31T23:59:59.5+00:00"), -kSecond / 2);
    EXPECT_EQ(parse("1900-01-01"), utc(1900, 1, 1));
    EXPECT_EQ(parse("0001-01-01T00:00:00"), utc(1, 1, 1));
    EXPECT_EQ(parse("9999-12-31T23:59:59.999999"), utc(9999, 12, 31, 23, 59, 59, 999999));
}

// Every day from 1890 to 2110 parses to the C library's instant; the day after the last of
// each month does not parse.
TEST(ParseIso8601, EveryCalendarDayAgreesWithTheCLibrary) {
    char text[32];
    int checked = 0;
    for (int year = 1890; year <= 2110; ++year) {
        for (int month = 1; month <= 12; ++month) {
            for (int day = 1; day <= 31; ++day) {
                std::tm tm{};
                tm.tm_year = year - 1900;
                tm.tm_mon = month - 1;
                tm.tm_mday = day;
                tm.tm_hour = 12;
                const std::time_t t = ::timegm(&tm);  // normalises day 31 of April to May 1
                std::snprintf(text, sizeof text, "%04d-%02d-%02dT12:00:00+00:00", year, month, day);
                if (tm.tm_mon != month - 1) {
                    EXPECT_FALSE(parse_iso8601(text).has_value()) << text;
                } else {
                    EXPECT_EQ(parse_iso8601(text), static_cast<InstantMicros>(t) * kSecond) << text;
                    ++checked;
                }
            }
        }
    }
    EXPECT_EQ(checked, 80718);  // days from 1890-01-01 to 2110-12-31
}

TEST(ParseIso8601, LeapYears) {
    EXPECT_EQ(parse("2024-02-29T00:00:00"), utc(2024, 2, 29));
    EXPECT_EQ(parse("2000-02-29T00:00:00"), utc(2000, 2, 29));  // divisible by 400
    EXPECT_EQ(parse("1600-02-29"), utc(1600, 2, 29));
    EXPECT_FALSE(parse_iso8601("2023-02-29T00:00:00").has_value());
    EXPECT_FALSE(parse_iso8601("1900-02-29T00:00:00").has_value());  // divisible by 100
    EXPECT_FALSE(parse_iso8601("2100-02-29").has_value());
    EXPECT_FALSE(parse_iso8601("2024-02-30").has_value());
    EXPECT_EQ(parse("2024-03-01") - parse("2024-02-28"), 2 * 86400 * kSecond);
    EXPECT_EQ(parse("2023-03-01") - parse("2023-02-28"), 86400 * kSecond);
}

TEST(ParseIso8601, RejectsWhatIsNotAnIsoTimestamp) {
    for (const char* text : {
             "",
             " ",
             "now",
             "2024",
             "2024-05",
             "2024-5-01",
             "2024-05-1",
             "24-05-01",
             "+2024-05-01",
             "-2024-05-01",
             "2024/05/01",
             "20240501",
             "2024-00-01",
             "2024-13-01",
             "2024-05-00",
             "2024-04-31",
             "2024-05-32",
             "0000-01-01",
             "2024-05-01T",
             "2024-05-01X10:30",
             "2024-05-01T10",
             "2024-05-01T1:30",
             "2024-05-01T10:3",
             "2024-05-01T24:00:00",
             "2024-05-01T23:60:00",
             "2024-05-01T23:59:60",
             "2024-05-01T10:30:4",
             "2024-05-01T10:30:45.",
             "2024-05-01T10:30.5",
             "2024-05-01T10:30:45+",
             "2024-05-01T10:30:45+2",
             "2024-05-01T10:30:45+02",
             "2024-05-01T10:30:45+0200",
             "2024-05-01T10:30:45+2:00",
             "2024-05-01T10:30:45+02:0",
             "2024-05-01T10:30:45+24:00",
             "2024-05-01T10:30:45+02:60",
             "2024-05-01T10:30:45+02:00:60",
             "2024-05-01T10:30:45+02:00:00.",
             "2024-05-01T10:30:45Z+01:00",
             "2024-05-01T10:30:45ZZ",
             "2024-05-01T10:30:45 UTC",
             "2024-05-01T10:30:45+00:00 ",
             " 2024-05-01T10:30:45",
             "2024-05-01T10:30:45\n",
             "2024-05-01 ",
             "2024-05-01T-1:30",
             "２０２４-05-01",
         }) {
        EXPECT_FALSE(parse_iso8601(text).has_value()) << "'" << text << "'";
    }
    // Text with an embedded NUL stops nowhere early.
    EXPECT_FALSE(parse_iso8601(std::string_view("2024-05-01\0T10:30", 16)).has_value());
    // A view of the valid prefix of a longer buffer parses: nothing reads past its end.
    const std::string longer = "2024-05-01T10:30:45+00:00garbage";
    EXPECT_EQ(parse_iso8601(std::string_view(longer).substr(0, 25)), utc(2024, 5, 1, 10, 30, 45));
}

TEST(ParseIso8601OrThrow, ThrowsInvalidArgumentNamingWhat) {
    EXPECT_EQ(parse_iso8601_or_throw("2024-05-01T10:30:00+02:00", "start"), utc(2024, 5, 1, 8, 30));
    try {
        parse_iso8601_or_throw("yesterday", "usage event timestamp");
        FAIL() << "no exception";
    } catch (const InvalidArgument& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("usage event timestamp"), std::string::npos) << message;
        EXPECT_NE(message.find("yesterday"), std::string::npos) << message;
    }
    // A huge bad value is not copied whole into the message.
    try {
        parse_iso8601_or_throw(std::string(100000, 'x'), "t");
        FAIL() << "no exception";
    } catch (const InvalidArgument& e) {
        EXPECT_LT(std::string(e.what()).size(), 200u);
    }
}

}  // namespace
}  // namespace asap_native
