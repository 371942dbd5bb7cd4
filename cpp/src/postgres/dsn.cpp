#include "asap_native/postgres/dsn.hpp"

#include <libpq-fe.h>

#include <memory>

#include "asap_native/errors.hpp"

namespace asap_native::pg {
namespace {

bool is_option_name(const std::string& token) {
    if (token.empty() || token.size() > 40) return false;
    for (char c : token)
        if (!((c >= 'a' && c <= 'z') || c == '_')) return false;
    return true;
}

// libpq quotes fragments of the DSN in its parse errors ("missing "=" after "..."): a value
// there could be a password. Keep only quoted option names of "invalid connection option".
std::string without_quoted_values(const std::string& message) {
    const bool about_option_name = message.rfind("invalid connection option", 0) == 0;
    std::string out;
    std::size_t i = 0;
    while (i < message.size()) {
        const std::size_t open = message.find('"', i);
        if (open == std::string::npos) {
            out.append(message, i, std::string::npos);
            break;
        }
        const std::size_t close = message.find('"', open + 1);
        if (close == std::string::npos) {
            out.append(message, i, open - i);
            out += "\"...\"";
            break;
        }
        out.append(message, i, open - i);
        const std::string token = message.substr(open + 1, close - open - 1);
        if (token == "=" || (about_option_name && is_option_name(token)))
            out += "\"" + token + "\"";
        else
            out += "\"...\"";
        i = close + 1;
    }
    while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
    return out;
}

struct OptionsDeleter {
    void operator()(PQconninfoOption* options) const { PQconninfoFree(options); }
};
using ParsedOptions = std::unique_ptr<PQconninfoOption, OptionsDeleter>;

ParsedOptions parse(const std::string& dsn, std::string* error_message) {
    char* error = nullptr;
    ParsedOptions parsed(PQconninfoParse(dsn.c_str(), &error));
    if (!parsed && error_message != nullptr)
        *error_message = error != nullptr ? error : "out of memory";
    if (error != nullptr) PQfreemem(error);
    return parsed;
}

}  // namespace

void validate_dsn(const std::string& dsn) {
    if (dsn.find('\0') != std::string::npos)
        throw InvalidArgument("dsn must not contain NUL characters");
    std::string error;
    if (!parse(dsn, &error))
        throw InvalidArgument("invalid PostgreSQL dsn: " + without_quoted_values(error));
}

std::string describe_dsn(const std::string& dsn) {
    if (dsn.find('\0') != std::string::npos) return "(invalid dsn)";
    ParsedOptions parsed = parse(dsn, nullptr);
    if (!parsed) return "(invalid dsn)";
    std::string out;
    for (const char* key : {"host", "hostaddr", "port", "dbname", "user"}) {
        for (PQconninfoOption* option = parsed.get(); option->keyword != nullptr; ++option) {
            if (std::string(option->keyword) != key || option->val == nullptr ||
                option->val[0] == '\0')
                continue;
            if (!out.empty()) out += ' ';
            out += std::string(key) + "=" + option->val;
        }
    }
    return out.empty() ? "(libpq defaults)" : out;
}

}  // namespace asap_native::pg
