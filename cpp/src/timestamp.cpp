#include "asap_native/timestamp.hpp"

#include <cstdio>
#include <string>

#include "asap_native/errors.hpp"

namespace asap_native {
namespace {

// Days from 1970-01-01 to the given proleptic Gregorian date (Howard Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const unsigned yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// The proleptic Gregorian date of a day count from 1970-01-01 (Howard Hinnant's algorithm).
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) noexcept {
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const unsigned doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y = static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2);
}

bool is_leap(int y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

class Cursor {
public:
    explicit Cursor(std::string_view text) : text_(text) {}
    bool done() const { return pos_ == text_.size(); }
    char peek() const { return done() ? '\0' : text_[pos_]; }
    bool accept(char c) {
        if (peek() != c) return false;
        ++pos_;
        return true;
    }
    bool digits(int count, int& out) {
        out = 0;
        for (int i = 0; i < count; ++i) {
            const char c = peek();
            if (c < '0' || c > '9') return false;
            out = out * 10 + (c - '0');
            ++pos_;
        }
        return true;
    }
    // Fraction digits after '.', scaled to microseconds (extra digits truncated, as Python does).
    bool fraction(int& micros) {
        micros = 0;
        int count = 0;
        while (peek() >= '0' && peek() <= '9') {
            if (count < 6) micros = micros * 10 + (peek() - '0');
            ++count;
            ++pos_;
        }
        if (count == 0) return false;
        for (int i = count; i < 6; ++i) micros *= 10;
        return true;
    }

private:
    std::string_view text_;
    std::size_t pos_ = 0;
};

}  // namespace

std::optional<InstantMicros> parse_iso8601(std::string_view text) noexcept {
    Cursor in(text);
    int year, month, day;
    if (!in.digits(4, year) || !in.accept('-') || !in.digits(2, month) || !in.accept('-') ||
        !in.digits(2, day))
        return std::nullopt;
    static constexpr int kDaysIn[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    // Year 0 is valid ISO-8601 but not a Python datetime (MINYEAR is 1): it could not be read back.
    if (year < 1 || month < 1 || month > 12 || day < 1) return std::nullopt;
    if (day > kDaysIn[month - 1] + (month == 2 && is_leap(year) ? 1 : 0)) return std::nullopt;

    int hour = 0, minute = 0, second = 0, micros = 0;
    std::int64_t offset_seconds = 0;
    if (!in.done()) {
        if (!in.accept('T') && !in.accept(' ')) return std::nullopt;
        if (!in.digits(2, hour) || !in.accept(':') || !in.digits(2, minute)) return std::nullopt;
        if (in.accept(':')) {
            if (!in.digits(2, second)) return std::nullopt;
            if ((in.accept('.') || in.accept(',')) && !in.fraction(micros)) return std::nullopt;
        }
        if (hour > 23 || minute > 59 || second > 59) return std::nullopt;
        if (in.accept('Z') || in.accept('z')) {
            offset_seconds = 0;
        } else if (in.peek() == '+' || in.peek() == '-') {
            const int sign = in.accept('-') ? -1 : (in.accept('+'), 1);
            int oh, om, os = 0, ous = 0;
            if (!in.digits(2, oh) || !in.accept(':') || !in.digits(2, om)) return std::nullopt;
            if (in.accept(':')) {
                if (!in.digits(2, os)) return std::nullopt;
                if (in.accept('.') && !in.fraction(ous)) return std::nullopt;
            }
            if (oh > 23 || om > 59 || os > 59) return std::nullopt;
            offset_seconds = sign * (oh * 3600 + om * 60 + os);
            (void)ous;  // sub-second offsets exist in Python but not in practice; ignored.
        }
    }
    if (!in.done()) return std::nullopt;

    const std::int64_t days =
        days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
    const std::int64_t seconds = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
    return seconds * 1000000 + micros;
}

std::string utc_minute_text(InstantMicros instant) {
    constexpr std::int64_t kMicrosPerMinute = 60LL * 1000000;
    std::int64_t minutes = instant / kMicrosPerMinute;
    if (instant % kMicrosPerMinute < 0) --minutes;  // floor, also before the epoch
    std::int64_t days = minutes / 1440;
    std::int64_t minute_of_day = minutes % 1440;
    if (minute_of_day < 0) {
        minute_of_day += 1440;
        --days;
    }
    std::int64_t year;
    unsigned month, day;
    civil_from_days(days, year, month, day);
    char text[32];
    std::snprintf(text, sizeof text, "%04lld-%02u-%02uT%02lld:%02lld", static_cast<long long>(year),
                  month, day, static_cast<long long>(minute_of_day / 60),
                  static_cast<long long>(minute_of_day % 60));
    return text;
}

InstantMicros parse_iso8601_or_throw(std::string_view text, std::string_view what) {
    if (auto instant = parse_iso8601(text)) return *instant;
    throw InvalidArgument(std::string(what) + " is not an ISO-8601 timestamp: '" +
                          std::string(text.substr(0, 64)) + "'");
}

}  // namespace asap_native
