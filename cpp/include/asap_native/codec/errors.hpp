// Exceptions thrown by the compression codecs.
#pragma once

#include <cstddef>
#include <stdexcept>
#include <string>

#include "asap_native/errors.hpp"

namespace asap_native::codec {

/// The input is not a valid stream of its encoding: bad magic, corrupt data, a checksum or
/// length mismatch, or bytes after the end of the stream.
class CorruptData : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

/// The input ended before the compressed stream did.
class TruncatedData : public CorruptData {
public:
    using CorruptData::CorruptData;
};

/// Decoding stopped because the output passed the configured maximum. Deliberately not a
/// CorruptData: callers answer it differently (HTTP 413 rather than 400).
class DecompressionLimitExceeded : public std::length_error {
public:
    DecompressionLimitExceeded(const std::string& message, std::size_t limit)
        : std::length_error(message), limit_(limit) {}
    /// The maximum output size that was passed.
    std::size_t limit() const noexcept { return limit_; }

private:
    std::size_t limit_;
};

/// A content coding this library does not implement (anything but gzip, br and identity).
class UnsupportedEncoding : public InvalidArgument {
public:
    UnsupportedEncoding(const std::string& message, std::string encoding)
        : InvalidArgument(message), encoding_(std::move(encoding)) {}
    /// The coding as the caller spelled it.
    const std::string& encoding() const noexcept { return encoding_; }

private:
    std::string encoding_;
};

}  // namespace asap_native::codec
