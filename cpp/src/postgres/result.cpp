#include "asap_native/postgres/result.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <cstdlib>

#include "asap_native/errors.hpp"

namespace asap_native::pg {

Result::~Result() {
    if (result_ != nullptr) PQclear(result_);
}

Result& Result::operator=(Result&& other) noexcept {
    if (this != &other) {
        if (result_ != nullptr) PQclear(result_);
        result_ = other.release();
    }
    return *this;
}

int Result::rows() const noexcept { return result_ == nullptr ? 0 : PQntuples(result_); }

bool Result::is_null(int row, int column) const noexcept {
    return PQgetisnull(result_, row, column) != 0;
}

std::string_view Result::text(int row, int column) const noexcept {
    return std::string_view(PQgetvalue(result_, row, column),
                            static_cast<std::size_t>(PQgetlength(result_, row, column)));
}

std::int64_t Result::int64(int row, int column) const {
    const std::string_view value = text(row, column);
    std::int64_t out = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), out);
    if (error != std::errc() || end != value.data() + value.size())
        throw StoreError(StoreErrorKind::InvalidData,
                         "PostgreSQL returned '" + std::string(value.substr(0, 32)) +
                             "' where an integer was expected",
                         "");
    return out;
}

bool Result::boolean(int row, int column) const noexcept {
    const std::string_view value = text(row, column);
    return !value.empty() && value[0] == 't';
}

std::int64_t Result::affected_rows() const noexcept {
    const char* text = result_ == nullptr ? "" : PQcmdTuples(result_);
    return text[0] == '\0' ? 0 : std::strtoll(text, nullptr, 10);
}

}  // namespace asap_native::pg
