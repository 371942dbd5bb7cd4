// RAII for one libpq result (PGresult), with typed access to its text values.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

struct pg_result;

namespace asap_native::pg {

/// The result of one statement: owns its PGresult, freed on destruction. Every statement the
/// stores send asks for text results, so values are read as text.
class Result {
public:
    Result() = default;
    explicit Result(pg_result* result) noexcept : result_(result) {}
    ~Result();
    Result(Result&& other) noexcept : result_(other.release()) {}
    Result& operator=(Result&& other) noexcept;
    Result(const Result&) = delete;
    Result& operator=(const Result&) = delete;

    pg_result* get() const noexcept { return result_; }
    pg_result* release() noexcept {
        pg_result* result = result_;
        result_ = nullptr;
        return result;
    }
    explicit operator bool() const noexcept { return result_ != nullptr; }

    /// Rows returned.
    int rows() const noexcept;
    /// True when the value is SQL NULL.
    bool is_null(int row, int column) const noexcept;
    /// The value as text (empty for NULL); valid while the result lives.
    std::string_view text(int row, int column) const noexcept;
    std::string string(int row, int column) const { return std::string(text(row, column)); }
    /// An int8/int4 value; throws StoreError(InvalidData) when it is not an integer.
    std::int64_t int64(int row, int column) const;
    /// A boolean value ('t' or 'f').
    bool boolean(int row, int column) const noexcept;
    /// Rows an INSERT, UPDATE or DELETE changed.
    std::int64_t affected_rows() const noexcept;

private:
    pg_result* result_ = nullptr;
};

}  // namespace asap_native::pg
