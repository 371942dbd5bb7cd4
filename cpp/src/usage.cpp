#include "asap_native/usage.hpp"

#include <cstdint>

#include "asap_native/errors.hpp"
#include "asap_native/metering_store.hpp"
#include "asap_native/timestamp.hpp"
#include "json_scanner.hpp"

namespace asap_native {
namespace {

constexpr const char* kCounterNames[] = {"tokens_in", "tokens_out", "duration_ms", "api_calls"};

// A forward-only reader of the one JSON shape metrics columns have. It gives up (returns
// false) on anything else instead of interpreting it.
class CountersReader : JsonScanner {
public:
    explicit CountersReader(std::string_view text) : JsonScanner(text) {}

    bool read(StoredCounters& out) {
        std::optional<UsageCount>* slots[] = {&out.tokens_in, &out.tokens_out, &out.duration_ms,
                                              &out.api_calls};
        bool seen[4] = {false, false, false, false};
        skip_space();
        if (!take('{')) return false;
        skip_space();
        if (take('}')) return at_end();
        for (;;) {
            std::string_view key;
            if (!string(key)) return false;
            skip_space();
            if (!take(':')) return false;
            skip_space();
            int slot = -1;
            for (int i = 0; i < 4; ++i)
                if (key == kCounterNames[i]) slot = i;
            if (slot >= 0) {
                if (seen[slot]) return false;  // duplicate: let SQLite's reading decide
                seen[slot] = true;
                if (literal("null")) {
                    slots[slot]->reset();
                } else {
                    UsageCount value = 0;
                    if (!integer(value)) return false;
                    *slots[slot] = value;
                }
            } else if (!skip_scalar()) {
                return false;
            }
            skip_space();
            if (take('}')) return at_end();
            if (!take(',')) return false;
            skip_space();
        }
    }

private:
    // Keys without escapes only: an escaped key could spell a counter's name.
    bool string(std::string_view& out) {
        if (!take('"')) return false;
        const char* start = pos_;
        while (pos_ < end_ && *pos_ != '"') {
            if (*pos_ == '\\' || static_cast<unsigned char>(*pos_) < 0x20) return false;
            ++pos_;
        }
        if (pos_ == end_) return false;
        out = std::string_view(start, static_cast<std::size_t>(pos_ - start));
        ++pos_;
        return true;
    }
    bool integer(UsageCount& out) {
        const bool negative = take('-');
        if (pos_ == end_ || *pos_ < '0' || *pos_ > '9') return false;
        if (*pos_ == '0' && pos_ + 1 < end_ && pos_[1] >= '0' && pos_[1] <= '9') return false;
        // Up to 18 digits fit in 64 bits without a check; longer numbers go on in 128 bits.
        std::uint64_t small = 0;
        int digits = 0;
        while (pos_ < end_ && *pos_ >= '0' && *pos_ <= '9' && digits < 18) {
            small = small * 10 + static_cast<std::uint64_t>(*pos_++ - '0');
            ++digits;
        }
        UsageCount value = static_cast<UsageCount>(small);
        constexpr UsageCount kLimit =
            ~static_cast<UsageCount>(0) ^ (static_cast<UsageCount>(1) << 127);  // 2^127 - 1
        while (pos_ < end_ && *pos_ >= '0' && *pos_ <= '9') {
            const int digit = *pos_++ - '0';
            if (value > (kLimit - digit) / 10) return false;  // beyond 128 bits
            value = value * 10 + digit;
        }
        if (pos_ < end_ && (*pos_ == '.' || *pos_ == 'e' || *pos_ == 'E')) return false;
        out = negative ? -value : value;
        return true;
    }
    // Values of keys we do not read: numbers, strings, true/false/null (not containers).
    bool skip_scalar() {
        if (pos_ == end_) return false;
        if (*pos_ == '"') {
            ++pos_;
            while (pos_ < end_ && *pos_ != '"') pos_ += (*pos_ == '\\') ? 2 : 1;
            if (pos_ >= end_) return false;
            ++pos_;
            return true;
        }
        if (literal("true") || literal("false") || literal("null")) return true;
        const char* start = pos_;
        while (pos_ < end_ && ((*pos_ >= '0' && *pos_ <= '9') || *pos_ == '-' || *pos_ == '+' ||
                               *pos_ == '.' || *pos_ == 'e' || *pos_ == 'E'))
            ++pos_;
        return pos_ != start;
    }
};

}  // namespace

void validate_usage_event(const UsageEvent& event) {
    const UsageMetrics& m = event.metrics;
    if (m.tokens_in < 0 || m.tokens_out < 0 || m.duration_ms < 0 || m.api_calls < 0)
        throw InvalidArgument("usage metrics must be >= 0");
    parse_iso8601_or_throw(event.timestamp, "usage event timestamp");
}

void validate_query(const std::string&, QueryPage page) {
    if (page.offset < 0) throw InvalidArgument("offset must be non-negative");
}

std::string usage_count_text(UsageCount count) {
    if (count == 0) return "0";
    const bool negative = count < 0;
    // Negated digit by digit: -(2^127) has no positive counterpart.
    char digits[48];
    char* end = digits + sizeof digits;
    char* pos = end;
    while (count != 0) {
        const int digit = static_cast<int>(count % 10);
        *--pos = static_cast<char>('0' + (digit < 0 ? -digit : digit));
        count /= 10;
    }
    if (negative) *--pos = '-';
    return std::string(pos, end);
}

std::string usage_metrics_to_json(const UsageMetrics& m) {
    std::string out;
    out.reserve(80);
    out += "{\"tokens_in\":";
    out += usage_count_text(m.tokens_in);
    out += ",\"tokens_out\":";
    out += usage_count_text(m.tokens_out);
    out += ",\"duration_ms\":";
    out += usage_count_text(m.duration_ms);
    out += ",\"api_calls\":";
    out += usage_count_text(m.api_calls);
    out += '}';
    return out;
}

std::optional<StoredCounters> parse_stored_counters(std::string_view text) {
    StoredCounters counters;
    if (!CountersReader(text).read(counters)) return std::nullopt;
    return counters;
}

UsageMetrics usage_metrics_from_json(std::string_view text, std::string_view event_id) {
    const std::optional<StoredCounters> counters = parse_stored_counters(text);
    auto invalid = [&](const std::string& why) {
        return StoreError(StoreErrorKind::InvalidData, 0,
                          "usage event '" + std::string(event_id) + "' cannot be read: " + why);
    };
    if (!counters) throw invalid("its metrics are not a JSON object of integer counters");
    UsageMetrics metrics;
    const std::optional<UsageCount>* read[] = {&counters->tokens_in, &counters->tokens_out,
                                               &counters->duration_ms, &counters->api_calls};
    UsageCount* slots[] = {&metrics.tokens_in, &metrics.tokens_out, &metrics.duration_ms,
                           &metrics.api_calls};
    for (int i = 0; i < 4; ++i) {
        *slots[i] = read[i]->value_or(0);
        if (*slots[i] < 0)
            throw invalid(std::string("metric '") + kCounterNames[i] + "' is negative");
    }
    return metrics;
}

void add_usage(UsageCount& total, UsageCount value, const std::string& what) {
    if (__builtin_add_overflow(total, value, &total))
        throw StoreError(StoreErrorKind::InvalidData, 0, what + " exceed 128-bit integers");
}

}  // namespace asap_native
