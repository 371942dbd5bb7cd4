// ISO-8601 timestamps as instants.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace asap_native {

/// Microseconds since 1970-01-01T00:00:00Z.
using InstantMicros = std::int64_t;

/// Parses what Python's datetime.isoformat() writes (date, 'T' or ' ', time with optional
/// fraction, optional 'Z' or ±HH:MM[:SS] offset) into an instant. A missing offset means UTC.
/// Returns nullopt for anything else.
std::optional<InstantMicros> parse_iso8601(std::string_view text) noexcept;

/// Like parse_iso8601 but throws InvalidArgument naming `what` when the text does not parse.
InstantMicros parse_iso8601_or_throw(std::string_view text, std::string_view what);

}  // namespace asap_native
