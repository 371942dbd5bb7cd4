// Whole-body compression and decompression.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "asap_native/codec/decompressor.hpp"
#include "asap_native/codec/encoding.hpp"

namespace asap_native::codec {

/// `level` value meaning the default: gzip level 6, brotli quality 4 (as asap-protocol uses).
constexpr int kDefaultLevel = -1;

/// Decompresses a whole body, as Decompressor::feed then finish(). Throws CorruptData,
/// TruncatedData or DecompressionLimitExceeded.
std::string decompress(std::string_view data, Encoding encoding,
                       std::size_t max_output = Decompressor::kNoLimit);

/// Likely decoded size of a complete body, to size the output once: the gzip trailer's length
/// of the last member (mod 2^32), the input size for identity, 0 when unknown. Untrusted.
std::size_t decompressed_size_hint(const std::uint8_t* data, std::size_t size,
                                   Encoding encoding) noexcept;

/// Compresses a whole body; level is 0-9 for gzip, 0-11 for brotli, or kDefaultLevel.
/// Throws InvalidArgument for a level out of range.
std::string compress(std::string_view data, Encoding encoding, int level = kDefaultLevel);

/// Size of a buffer that always fits compress_into's output for `size` input bytes.
std::size_t compress_bound(std::size_t size, Encoding encoding);

/// Compresses into `out`, which holds at least compress_bound(size) bytes; returns the size.
std::size_t compress_into(const std::uint8_t* data, std::size_t size, Encoding encoding, int level,
                          std::uint8_t* out, std::size_t out_size);

}  // namespace asap_native::codec
