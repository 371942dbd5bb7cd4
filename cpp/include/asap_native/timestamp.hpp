// ISO-8601 timestamps as instants.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace asap_native {

/// Microseconds since 1970-01-01T00:00:00Z.
using InstantMicros = std::int64_t;

/// Parses what Python's datetime.isoformat() writes (date, 'T' or ' ', time with optional
/// fraction, optional 'Z' or ±HH:MM[:SS] offset) into an instant. A missing offset means UTC.
/// Returns nullopt for anything else.
std::optional<InstantMicros> parse_iso8601(std::string_view text) noexcept;

/// "YYYY-MM-DDTHH:MM": the UTC minute `instant` falls in (seconds dropped). The instant must
/// lie in years 1 to 9999 (kMinInstant..kMaxInstant).
std::string utc_minute_text(InstantMicros instant);

/// The first and last instants parse_iso8601 can return: 0001-01-01T00:00:00 UTC minus a day
/// and 9999-12-31T23:59:59.999999 UTC plus a day (the furthest UTC offsets).
inline constexpr InstantMicros kMinInstant = -62135596800LL * 1000000 - 86400LL * 1000000;
inline constexpr InstantMicros kMaxInstant = 253402300799LL * 1000000 + 999999 + 86400LL * 1000000;

/// Like parse_iso8601 but throws InvalidArgument naming `what` when the text does not parse.
InstantMicros parse_iso8601_or_throw(std::string_view text, std::string_view what);

}  // namespace asap_native
