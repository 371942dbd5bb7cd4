// The HTTP content codings the codec understands.
#pragma once

#include <string_view>

namespace asap_native::codec {

/// A content coding (RFC 9110 section 8.4.1).
enum class Encoding {
    Identity,  ///< No transformation.
    Gzip,      ///< RFC 1952 gzip, one or more members.
    Brotli,    ///< RFC 7932 brotli ("br").
};

/// Parses a Content-Encoding token, ignoring case and surrounding whitespace: "gzip", "br",
/// "identity" or "" (identity). Throws UnsupportedEncoding for anything else.
Encoding parse_encoding(std::string_view name);

/// The HTTP token of an encoding: "gzip", "br" or "identity".
const char* encoding_name(Encoding encoding) noexcept;

}  // namespace asap_native::codec
