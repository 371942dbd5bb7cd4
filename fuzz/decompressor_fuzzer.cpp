// libFuzzer target for the streaming Decompressor.
//
// Input layout: byte 0 picks the encoding, byte 1 the output limit, byte 2 the chunk size and
// byte 3 the output window for the low-level path; the rest is the compressed stream. Every
// input is decoded three ways (one-shot, chunked feed, decode_some into a tiny window), which
// must agree on success and output; only the three codec errors may be thrown; the limit must
// hold; and whatever decodes must survive a compression round trip.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <string_view>

#include "asap_native/codec/decompressor.hpp"
#include "asap_native/codec/errors.hpp"
#include "asap_native/codec/one_shot.hpp"

namespace asap_native::codec {
namespace {

enum class Outcome { Ok, Limit, Truncated, Corrupt };

struct Result {
    Outcome outcome = Outcome::Ok;
    std::string output;
};

Outcome classify(std::exception_ptr error) {
    try {
        std::rethrow_exception(error);
    } catch (const DecompressionLimitExceeded&) {
        return Outcome::Limit;
    } catch (const TruncatedData&) {
        return Outcome::Truncated;
    } catch (const CorruptData&) {
        return Outcome::Corrupt;
    }
    // Any other exception has escaped to libFuzzer as a crash: only these three are allowed.
    std::abort();
}

void check(bool condition, const char* what) {
    if (!condition) {
        std::fprintf(stderr, "invariant failed: %s\n", what);
        std::abort();
    }
}

Result one_shot(std::string_view data, Encoding encoding, std::size_t limit) {
    Result result;
    try {
        result.output = decompress(data, encoding, limit);
    } catch (...) {
        result.outcome = classify(std::current_exception());
    }
    return result;
}

Result chunked(std::string_view data, Encoding encoding, std::size_t limit, std::size_t chunk) {
    Result result;
    Decompressor decompressor(encoding, limit);
    try {
        for (std::size_t at = 0; at < data.size(); at += chunk) {
            decompressor.feed(data.substr(at, chunk), result.output);
            check(result.output.size() <= limit, "chunked output within the limit");
        }
        decompressor.finish();
    } catch (...) {
        result.outcome = classify(std::current_exception());
    }
    check(decompressor.total_out() <= limit + 1, "total_out at most limit + 1");
    check(decompressor.total_in() <= data.size(), "total_in at most the input");
    return result;
}

Result windowed(std::string_view data, Encoding encoding, std::size_t limit, std::size_t window) {
    Result result;
    Decompressor decompressor(encoding, limit);
    std::uint8_t buffer[64];
    const auto* input = reinterpret_cast<const std::uint8_t*>(data.data());
    try {
        std::size_t consumed = 0;
        for (;;) {
            auto progress =
                decompressor.decode_some(input + consumed, data.size() - consumed, buffer, window);
            check(progress.produced <= window, "decode_some stays in its window");
            result.output.append(reinterpret_cast<char*>(buffer), progress.produced);
            consumed += progress.consumed;
            if (consumed == data.size() && progress.produced < window) break;
        }
        decompressor.finish();
    } catch (...) {
        result.outcome = classify(std::current_exception());
    }
    return result;
}

int decode_three_ways(const std::uint8_t* data, std::size_t size) {
    if (size < 4) return 0;
    const Encoding encodings[] = {Encoding::Gzip, Encoding::Brotli, Encoding::Identity};
    Encoding encoding = encodings[data[0] % 3];
    // Up to ~1 MiB of output: enough for real bodies, small enough to fuzz bombs quickly.
    std::size_t limit = static_cast<std::size_t>(data[1]) * 4096 + (data[1] & 7);
    std::size_t chunk = static_cast<std::size_t>(data[2]) + 1;
    std::size_t window = static_cast<std::size_t>(data[3] % 64) + 1;
    std::string_view stream(reinterpret_cast<const char*>(data + 4), size - 4);

    Result whole = one_shot(stream, encoding, limit);
    Result pieces = chunked(stream, encoding, limit, chunk);
    Result small = windowed(stream, encoding, limit, window);

    // Success must not depend on chunking. Which error a bad stream gets may: a decoder
    // that reads ahead can meet corrupt input before it emits the byte that passes the limit.
    check((whole.outcome == Outcome::Ok) == (pieces.outcome == Outcome::Ok),
          "one-shot and chunked agree on success");
    check((whole.outcome == Outcome::Ok) == (small.outcome == Outcome::Ok),
          "one-shot and windowed agree on success");
    if (whole.outcome == Outcome::Ok) {
        check(whole.output.size() <= limit, "output within the limit");
        check(whole.output == pieces.output, "one-shot and chunked agree on the output");
        check(whole.output == small.output, "one-shot and windowed agree on the output");
        std::string packed = compress(whole.output, encoding, data[1] % 10);
        check(decompress(packed, encoding) == whole.output, "compression round trip");
    }
    return 0;
}

}  // namespace
}  // namespace asap_native::codec

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    return asap_native::codec::decode_three_ways(data, size);
}
