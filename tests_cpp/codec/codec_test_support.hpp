// Test data and independent oracles (zlib and libbrotli called directly) for the codec tests.
#pragma once

#include <brotli/decode.h>
#include <brotli/encode.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace asap_native::codec::testing {

/// A JSON-like body of about `size` bytes: repetitive enough to compress well, as real ones do.
inline std::string json_body(std::size_t size, unsigned seed = 1) {
    std::mt19937 random(seed);
    std::string out = "{\"items\":[";
    for (int i = 0; out.size() < size; ++i) {
        out += "{\"id\":" + std::to_string(i) + ",\"name\":\"task-" +
               std::to_string(random() % 1000) +
               "\",\"done\":" + ((random() % 2) != 0U ? "true" : "false") + "},";
    }
    out.resize(size);
    return out;
}

/// Incompressible bytes.
inline std::string random_bytes(std::size_t size, unsigned seed = 7) {
    std::mt19937 random(seed);
    std::string out(size, '\0');
    for (char& c : out) c = static_cast<char>(random() & 0xff);
    return out;
}

/// Raw deflate (no wrapper) of `data`, straight from zlib.
inline std::string raw_deflate(std::string_view data, int level = 6) {
    z_stream stream{};
    if (deflateInit2(&stream, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        throw std::runtime_error("deflateInit2");
    }
    std::string out(deflateBound(&stream, data.size()), '\0');
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    stream.avail_in = static_cast<uInt>(data.size());
    stream.next_out = reinterpret_cast<Bytef*>(out.data());
    stream.avail_out = static_cast<uInt>(out.size());
    int rc = deflate(&stream, Z_FINISH);
    out.resize(stream.total_out);
    deflateEnd(&stream);
    if (rc != Z_STREAM_END) throw std::runtime_error("deflate");
    return out;
}

inline void put_le32(std::string& out, std::uint32_t value) {
    for (int i = 0; i < 4; ++i) out += static_cast<char>((value >> (8 * i)) & 0xff);
}

/// Optional parts of a hand-built gzip header (RFC 1952 section 2.3).
struct GzipHeaderOptions {
    std::string extra;    ///< FEXTRA payload when not empty.
    std::string name;     ///< FNAME when not empty.
    std::string comment;  ///< FCOMMENT when not empty.
    bool header_crc = false;
};

/// One gzip member built by hand around zlib's raw deflate, independent of the code under test.
inline std::string gzip_member(std::string_view data, const GzipHeaderOptions& options = {}) {
    std::string out = "\x1f\x8b\x08";
    std::uint8_t flags = 0;
    if (options.header_crc) flags |= 0x02;
    if (!options.extra.empty()) flags |= 0x04;
    if (!options.name.empty()) flags |= 0x08;
    if (!options.comment.empty()) flags |= 0x10;
    out += static_cast<char>(flags);
    out += std::string("\x00\x00\x00\x00\x00\xff", 6);  // mtime 0, xfl 0, os unknown
    if (!options.extra.empty()) {
        out += static_cast<char>(options.extra.size() & 0xff);
        out += static_cast<char>(options.extra.size() >> 8);
        out += options.extra;
    }
    if (!options.name.empty()) out += options.name + '\0';
    if (!options.comment.empty()) out += options.comment + '\0';
    if (options.header_crc) {
        uLong crc =
            crc32(0L, reinterpret_cast<const Bytef*>(out.data()), static_cast<uInt>(out.size()));
        out += static_cast<char>(crc & 0xff);
        out += static_cast<char>((crc >> 8) & 0xff);
    }
    out += raw_deflate(data);
    put_le32(out, static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(data.data()),
                                                   static_cast<uInt>(data.size()))));
    put_le32(out, static_cast<std::uint32_t>(data.size() & 0xffffffffU));
    return out;
}

/// Decodes a whole gzip stream (one member) with zlib directly.
inline std::string zlib_gunzip(std::string_view data) {
    z_stream stream{};
    if (inflateInit2(&stream, 31) != Z_OK) throw std::runtime_error("inflateInit2");
    std::string out;
    char buffer[16384];
    stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
    stream.avail_in = static_cast<uInt>(data.size());
    int rc = Z_OK;
    while (rc == Z_OK) {
        stream.next_out = reinterpret_cast<Bytef*>(buffer);
        stream.avail_out = sizeof buffer;
        rc = inflate(&stream, Z_NO_FLUSH);
        out.append(buffer, sizeof buffer - stream.avail_out);
    }
    inflateEnd(&stream);
    if (rc != Z_STREAM_END) throw std::runtime_error("zlib_gunzip: invalid stream");
    return out;
}

/// Brotli-compresses with libbrotlienc directly.
inline std::string brotli_encode(std::string_view data, int quality = 4, int window = 22) {
    std::string out(BrotliEncoderMaxCompressedSize(data.size()), '\0');
    std::size_t size = out.size();
    if (!BrotliEncoderCompress(quality, window, BROTLI_MODE_GENERIC, data.size(),
                               reinterpret_cast<const std::uint8_t*>(data.data()), &size,
                               reinterpret_cast<std::uint8_t*>(out.data()))) {
        throw std::runtime_error("BrotliEncoderCompress");
    }
    out.resize(size);
    return out;
}

/// Decodes a whole brotli stream with libbrotlidec directly (output size must be known).
inline std::string brotli_decode(std::string_view data, std::size_t expected_size) {
    std::string out(expected_size, '\0');
    std::size_t size = out.size();
    if (BrotliDecoderDecompress(data.size(), reinterpret_cast<const std::uint8_t*>(data.data()),
                                &size, reinterpret_cast<std::uint8_t*>(out.data())) !=
        BROTLI_DECODER_RESULT_SUCCESS) {
        throw std::runtime_error("brotli_decode: invalid stream");
    }
    out.resize(size);
    return out;
}

/// A gzip stream that expands to `total` zero bytes, deflated in pieces so nothing big is held.
inline std::string gzip_zero_bomb(std::uint64_t total, int level = 9) {
    z_stream stream{};
    if (deflateInit2(&stream, level, Z_DEFLATED, 31, 9, Z_DEFAULT_STRATEGY) != Z_OK) {
        throw std::runtime_error("deflateInit2");
    }
    const std::string zeros(1 << 20, '\0');
    std::string out;
    char buffer[65536];
    std::uint64_t fed = 0;
    int rc = Z_OK;
    do {
        std::size_t piece =
            static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), total - fed));
        fed += piece;
        int flush = fed == total ? Z_FINISH : Z_NO_FLUSH;
        stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(zeros.data()));
        stream.avail_in = static_cast<uInt>(piece);
        do {
            stream.next_out = reinterpret_cast<Bytef*>(buffer);
            stream.avail_out = sizeof buffer;
            rc = deflate(&stream, flush);
            out.append(buffer, sizeof buffer - stream.avail_out);
        } while (stream.avail_out == 0);
    } while (fed < total);
    deflateEnd(&stream);
    if (rc != Z_STREAM_END) throw std::runtime_error("gzip_zero_bomb");
    return out;
}

/// A brotli stream that expands to `total` zero bytes, encoded in pieces.
inline std::string brotli_zero_bomb(std::uint64_t total, int window = 22, int quality = 4) {
    BrotliEncoderState* state = BrotliEncoderCreateInstance(nullptr, nullptr, nullptr);
    BrotliEncoderSetParameter(state, BROTLI_PARAM_QUALITY, static_cast<std::uint32_t>(quality));
    BrotliEncoderSetParameter(state, BROTLI_PARAM_LGWIN, static_cast<std::uint32_t>(window));
    const std::string zeros(1 << 20, '\0');
    std::string out;
    std::uint64_t fed = 0;
    bool ok = true;
    // One call of the encoder, whatever it produced appended to `out`.
    auto step = [&](BrotliEncoderOperation op, std::size_t& available_in,
                    const std::uint8_t*& next_in) {
        std::size_t available_out = 0;
        ok = BrotliEncoderCompressStream(state, op, &available_in, &next_in, &available_out,
                                         nullptr, nullptr);
        std::size_t taken = 0;
        const std::uint8_t* produced = BrotliEncoderTakeOutput(state, &taken);
        out.append(reinterpret_cast<const char*>(produced), taken);
    };
    while (ok && !BrotliEncoderIsFinished(state)) {
        std::size_t piece =
            static_cast<std::size_t>(std::min<std::uint64_t>(zeros.size(), total - fed));
        fed += piece;
        auto op = fed == total ? BROTLI_OPERATION_FINISH : BROTLI_OPERATION_PROCESS;
        std::size_t available_in = piece;
        const std::uint8_t* next_in = reinterpret_cast<const std::uint8_t*>(zeros.data());
        do {
            step(op, available_in, next_in);
        } while (ok && (available_in > 0 || BrotliEncoderHasMoreOutput(state)));
        if (op == BROTLI_OPERATION_FINISH)
            while (ok && !BrotliEncoderIsFinished(state)) step(op, available_in, next_in);
    }
    BrotliEncoderDestroyInstance(state);
    if (!ok) throw std::runtime_error("brotli_zero_bomb");
    return out;
}

/// 1 GiB of zeros as gzip (level 1: about 4.6 MB, quick to make), built once per test run.
inline const std::string& gzip_gib_bomb() {
    static const std::string bomb = gzip_zero_bomb(1ULL << 30, 1);
    return bomb;
}

/// 1 GiB of zeros as brotli with the largest standard window (16 MiB), built once per run.
inline const std::string& brotli_gib_bomb() {
    static const std::string bomb = brotli_zero_bomb(1ULL << 30, 24, 1);
    return bomb;
}

}  // namespace asap_native::codec::testing
