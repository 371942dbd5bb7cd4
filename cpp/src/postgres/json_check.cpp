// Whether a JSON text can become a jsonb value, decided before it is sent: a save never fails
// on the server because of its data (the text is kept either way; see jsonb_can_hold).
#include <string_view>

#include "asap_native/postgres_snapshot_store.hpp"
#include "json_scanner.hpp"

namespace asap_native {
namespace {

constexpr int kMaxDepth = 1000;
constexpr std::size_t kMaxDigits = 1000;
constexpr long kMaxExponent = 1000;

class Checker : JsonScanner {
public:
    explicit Checker(std::string_view text) : JsonScanner(text) {}

    bool document() {
        skip_space();
        return value(0) && at_end();
    }

private:
    // `depth`: containers around this value.
    bool value(int depth) {
        switch (peek()) {
            case '{':
                return depth < kMaxDepth && object(depth + 1);
            case '[':
                return depth < kMaxDepth && array(depth + 1);
            case '"':
                return string();
            case 't':
                return literal("true");
            case 'f':
                return literal("false");
            case 'n':
                return literal("null");
            default:
                return number();
        }
    }

    bool object(int depth) {
        ++pos_;  // '{'
        skip_space();
        if (take('}')) return true;
        for (;;) {
            if (peek() != '"' || !string()) return false;
            skip_space();
            if (!take(':')) return false;
            skip_space();
            if (!value(depth)) return false;
            skip_space();
            if (take('}')) return true;
            if (!take(',')) return false;
            skip_space();
        }
    }

    bool array(int depth) {
        ++pos_;  // '['
        skip_space();
        if (take(']')) return true;
        for (;;) {
            if (!value(depth)) return false;
            skip_space();
            if (take(']')) return true;
            if (!take(',')) return false;
            skip_space();
        }
    }

    bool hex4(unsigned& out) {
        if (end_ - pos_ < 4) return false;
        out = 0;
        for (int i = 0; i < 4; ++i) {
            const char c = *pos_++;
            out <<= 4;
            if (c >= '0' && c <= '9')
                out |= static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f')
                out |= static_cast<unsigned>(c - 'a' + 10);
            else if (c >= 'A' && c <= 'F')
                out |= static_cast<unsigned>(c - 'A' + 10);
            else
                return false;
        }
        return true;
    }

    bool string() {
        ++pos_;  // '"'
        while (pos_ < end_) {
            const auto c = static_cast<unsigned char>(*pos_++);
            if (c == '"') return true;
            if (c < 0x20) return false;  // control characters must be escaped
            if (c != '\\') continue;
            if (pos_ == end_) return false;
            const char e = *pos_++;
            switch (e) {
                case '"':
                case '\\':
                case '/':
                case 'b':
                case 'f':
                case 'n':
                case 'r':
                case 't':
                    break;
                case 'u': {
                    unsigned code = 0;
                    if (!hex4(code) || code == 0) return false;          // jsonb refuses \u0000
                    if (code >= 0xDC00 && code <= 0xDFFF) return false;  // unpaired low half
                    if (code >= 0xD800 && code <= 0xDBFF) {
                        unsigned low = 0;
                        if (!literal("\\u") || !hex4(low) || low < 0xDC00 || low > 0xDFFF)
                            return false;
                    }
                    break;
                }
                default:
                    return false;
            }
        }
        return false;  // unterminated
    }

    bool digits(std::size_t& count) {
        const char* start = pos_;
        while (pos_ < end_ && *pos_ >= '0' && *pos_ <= '9') ++pos_;
        count += static_cast<std::size_t>(pos_ - start);
        return pos_ != start;
    }

    bool number() {
        std::size_t count = 0;
        take('-');
        if (take('0')) {
            ++count;
        } else if (peek() >= '1' && peek() <= '9') {
            digits(count);
        } else {
            return false;
        }
        if (take('.') && !digits(count)) return false;
        if (peek() == 'e' || peek() == 'E') {
            ++pos_;
            if (!take('+')) take('-');
            const char* start = pos_;
            std::size_t exponent_digits = 0;
            if (!digits(exponent_digits)) return false;
            long exponent = 0;
            for (const char* p = start; p < pos_; ++p) {
                exponent = exponent * 10 + (*p - '0');
                if (exponent > kMaxExponent) return false;
            }
        }
        return count <= kMaxDigits;
    }
};

}  // namespace

bool jsonb_can_hold(std::string_view data_json) noexcept { return Checker(data_json).document(); }

}  // namespace asap_native
