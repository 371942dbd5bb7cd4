// The parameters of one statement, sent in PostgreSQL's binary format.
#pragma once

#include <cstdint>
#include <string_view>

#include "asap_native/timestamp.hpp"

namespace asap_native::pg {

/// Type OIDs of the parameters the stores declare (pg_type.oid).
namespace oid {
inline constexpr unsigned kBool = 16;
inline constexpr unsigned kInt8 = 20;
inline constexpr unsigned kText = 25;
inline constexpr unsigned kTimestamptz = 1184;
}  // namespace oid

/// Up to kMax parameter values in binary format: text as its bytes (no NUL terminator needed,
/// no length limit), integers and timestamps as big-endian 8 bytes. Text values are
/// referenced, not copied: they must outlive the call that sends the statement. Not copyable
/// (values point into the object itself).
class Params {
public:
    static constexpr int kMax = 8;

    Params() = default;
    Params(const Params&) = delete;
    Params& operator=(const Params&) = delete;

    /// A text (or jsonb, when the statement casts it) value.
    Params& text(std::string_view value);
    /// text(value) for a value from the caller, named `what` in the InvalidArgument thrown
    /// when it holds a NUL character (see check_text).
    Params& text(std::string_view value, const char* what);
    Params& int64(std::int64_t value);
    Params& boolean(bool value);
    /// A timestamptz: instants outside PostgreSQL's range become -infinity / infinity.
    Params& timestamptz(InstantMicros instant);
    /// SQL NULL.
    Params& null();

    int size() const noexcept { return count_; }
    const char* const* values() const noexcept { return values_; }
    const int* lengths() const noexcept { return lengths_; }
    const int* formats() const noexcept { return formats_; }

private:
    int next();
    Params& fixed(std::uint64_t value, int bytes);

    int count_ = 0;
    const char* values_[kMax] = {};
    int lengths_[kMax] = {};
    int formats_[kMax] = {};
    char scratch_[kMax][8] = {};
};

/// Throws InvalidArgument when `value` holds a NUL character, which PostgreSQL text cannot.
void check_text(std::string_view value, const char* what);

/// Microseconds since 2000-01-01 (PostgreSQL's epoch) for an instant since 1970, clamped to
/// PostgreSQL's timestamptz range (beyond it: the binary values of -infinity and infinity).
std::int64_t postgres_timestamp(InstantMicros instant) noexcept;

}  // namespace asap_native::pg
