#include "asap_native/codec/encoding.hpp"

#include <string>

#include "asap_native/codec/errors.hpp"

namespace asap_native::codec {
namespace {

bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }  // \t \n \v \f \r

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equals_lower(std::string_view text, std::string_view lowercase) {
    if (text.size() != lowercase.size()) return false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (lower(text[i]) != lowercase[i]) return false;
    }
    return true;
}

}  // namespace

Encoding parse_encoding(std::string_view name) {
    std::string_view token = name;
    while (!token.empty() && is_space(token.front())) token.remove_prefix(1);
    while (!token.empty() && is_space(token.back())) token.remove_suffix(1);
    if (token.empty() || equals_lower(token, "identity")) return Encoding::Identity;
    if (equals_lower(token, "gzip")) return Encoding::Gzip;
    if (equals_lower(token, "br")) return Encoding::Brotli;
    std::string spelled(name);
    throw UnsupportedEncoding(
        "Unsupported Content-Encoding: " + spelled + ". Supported: gzip, br, identity", spelled);
}

const char* encoding_name(Encoding encoding) noexcept {
    switch (encoding) {
        case Encoding::Gzip:
            return "gzip";
        case Encoding::Brotli:
            return "br";
        case Encoding::Identity:
            break;
    }
    return "identity";
}

}  // namespace asap_native::codec
