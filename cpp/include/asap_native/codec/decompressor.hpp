// Streaming, size-bounded decoder for gzip, brotli and identity bodies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <limits>
#include <memory>
#include <string>
#include <string_view>

#include "asap_native/codec/encoding.hpp"
#include "asap_native/codec/output_buffer.hpp"

namespace asap_native::codec {

/// Decodes a compressed body fed to it in chunks, enforcing a maximum output size as it goes.
///
/// The total output never exceeds max_output + 1 bytes: the decoder is never given room for
/// more, and the byte past the limit raises DecompressionLimitExceeded at once, so a bomb costs
/// at most max_output of memory and the time to produce it. gzip input may hold several members
/// with zero padding between and after them, as Python's gzip.decompress accepts. After any
/// exception the decompressor is failed and every later call rethrows that exception.
/// Not thread-safe: one caller at a time.
class Decompressor {
public:
    /// max_output value meaning "no limit".
    static constexpr std::size_t kNoLimit = std::numeric_limits<std::size_t>::max();

    /// Result of one decode_some call.
    struct Progress {
        std::size_t consumed = 0;  ///< Input bytes used.
        std::size_t produced = 0;  ///< Output bytes written.
    };

    /// Creates a decoder; throws std::bad_alloc if the codec library cannot allocate its state.
    explicit Decompressor(Encoding encoding, std::size_t max_output = kNoLimit);
    ~Decompressor();
    Decompressor(Decompressor&&) noexcept;
    Decompressor& operator=(Decompressor&&) noexcept;
    Decompressor(const Decompressor&) = delete;
    Decompressor& operator=(const Decompressor&) = delete;

    /// Decodes all of `input`, appending the output to `out` (grown geometrically; `size_hint`,
    /// if not 0, is the expected output size). Throws CorruptData or DecompressionLimitExceeded.
    void feed(const std::uint8_t* input, std::size_t size, OutputBuffer& out,
              std::size_t size_hint = 0);
    /// feed() appending to a std::string.
    void feed(std::string_view input, std::string& out);
    /// feed() returning this chunk's output.
    std::string feed(std::string_view input);

    /// Low-level step: decodes from `input` into `out` until the input is used up or `out` is
    /// full. Call again with more room while produced == out_size: output may still be pending.
    Progress decode_some(const std::uint8_t* input, std::size_t input_size, std::uint8_t* out,
                         std::size_t out_size);

    /// Declares the end of input; throws TruncatedData unless it ended on a stream boundary.
    void finish();

    /// The coding being decoded.
    Encoding encoding() const noexcept { return encoding_; }
    /// The configured maximum output size (kNoLimit when unbounded).
    std::size_t max_output() const noexcept { return max_output_; }
    /// Total input bytes consumed so far.
    std::uint64_t total_in() const noexcept { return total_in_; }
    /// Total output bytes produced so far.
    std::uint64_t total_out() const noexcept { return total_out_; }
    /// True once finish() succeeded.
    bool finished() const noexcept { return finished_; }
    /// Output bytes this decoder may still produce, counting the one that trips the limit.
    std::size_t output_allowance() const noexcept;

    class Backend;

private:
    void check_usable() const;
    [[noreturn]] void fail(std::exception_ptr error);

    Encoding encoding_;
    std::size_t max_output_;
    std::unique_ptr<Backend> backend_;
    std::uint64_t total_in_ = 0;
    std::uint64_t total_out_ = 0;
    bool finished_ = false;
    std::exception_ptr failure_;
};

}  // namespace asap_native::codec
