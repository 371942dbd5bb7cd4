#include "asap_native/postgres/params.hpp"

#include <limits>
#include <string>

#include "asap_native/errors.hpp"

namespace asap_native::pg {
namespace {

// 1970-01-01 minus 2000-01-01, in microseconds.
constexpr std::int64_t kEpochShift = 946684800LL * 1000000LL;
// PostgreSQL's timestamptz range (MIN_TIMESTAMP, END_TIMESTAMP in its datatype/timestamp.h),
// relative to its own epoch; outside it, only -infinity and infinity exist.
constexpr std::int64_t kMinTimestamp = -211813488000000000LL;
constexpr std::int64_t kEndTimestamp = 9223371331200000000LL;
constexpr std::int64_t kMinusInfinity = std::numeric_limits<std::int64_t>::min();
constexpr std::int64_t kInfinity = std::numeric_limits<std::int64_t>::max();

}  // namespace

std::int64_t postgres_timestamp(InstantMicros instant) noexcept {
    if (instant < kMinTimestamp + kEpochShift) return kMinusInfinity;
    const std::int64_t shifted = instant - kEpochShift;  // cannot overflow: instant >= min + shift
    if (shifted >= kEndTimestamp) return kInfinity;
    return shifted;
}

void check_text(std::string_view value, const char* what) {
    if (value.find('\0') != std::string_view::npos)
        throw InvalidArgument(std::string(what) +
                              " contains a NUL character, which PostgreSQL text cannot hold");
}

int Params::next() {
    if (count_ == kMax) throw InvalidArgument("too many statement parameters");
    formats_[count_] = 1;  // binary
    return count_++;
}

Params& Params::text(std::string_view value) {
    if (value.size() > static_cast<std::size_t>(std::numeric_limits<int>::max()))
        throw InvalidArgument("a text value is larger than PostgreSQL accepts (2 GiB)");
    const int i = next();
    // A non-null pointer even for "" (NULL would mean SQL NULL).
    values_[i] = value.data() != nullptr ? value.data() : "";
    lengths_[i] = static_cast<int>(value.size());
    return *this;
}

Params& Params::text(std::string_view value, const char* what) {
    check_text(value, what);
    return text(value);
}

Params& Params::fixed(std::uint64_t value, int bytes) {
    const int i = next();
    for (int b = 0; b < bytes; ++b)
        scratch_[i][b] = static_cast<char>((value >> (8 * (bytes - 1 - b))) & 0xff);
    values_[i] = scratch_[i];
    lengths_[i] = bytes;
    return *this;
}

Params& Params::int64(std::int64_t value) { return fixed(static_cast<std::uint64_t>(value), 8); }

Params& Params::boolean(bool value) { return fixed(value ? 1 : 0, 1); }

Params& Params::timestamptz(InstantMicros instant) {
    return fixed(static_cast<std::uint64_t>(postgres_timestamp(instant)), 8);
}

Params& Params::null() {
    const int i = next();
    values_[i] = nullptr;
    lengths_[i] = 0;
    return *this;
}

}  // namespace asap_native::pg
