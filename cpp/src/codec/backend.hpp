// The per-encoding engines behind Decompressor (private to the core).
#pragma once

#include <memory>

#include "asap_native/codec/decompressor.hpp"

namespace asap_native::codec {

/// One encoding's decoder. decode() fills `out` as far as the input allows and throws
/// CorruptData for invalid input; it knows nothing about limits (Decompressor enforces them).
/// A backend owns its library's stream state, so it is never copied.
class Decompressor::Backend {
public:
    Backend() = default;
    virtual ~Backend() = default;
    Backend(const Backend&) = delete;
    Backend& operator=(const Backend&) = delete;
    /// Decodes until the input is used up or `out` is full.
    virtual Progress decode(const std::uint8_t* input, std::size_t input_size, std::uint8_t* out,
                            std::size_t out_size) = 0;
    /// True when the input so far ends exactly at a stream boundary.
    virtual bool at_boundary() const = 0;
};

/// The backend for `encoding`.
std::unique_ptr<Decompressor::Backend> make_backend(Encoding encoding);

}  // namespace asap_native::codec
