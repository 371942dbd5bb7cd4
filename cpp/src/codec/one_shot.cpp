#include "asap_native/codec/one_shot.hpp"

#include <brotli/encode.h>
#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <new>
#include <stdexcept>

#include "asap_native/codec/errors.hpp"
#include "asap_native/errors.hpp"

namespace asap_native::codec {
namespace {

constexpr int kGzipDefaultLevel = 6;
constexpr int kBrotliDefaultQuality = 4;
constexpr int kGzipWindowBits = 15 + 16;
constexpr int kGzipMemLevel = 8;
// gzip's 18-byte header and trailer replace zlib's 6, plus slack for compressBound's rounding.
constexpr std::size_t kGzipWrapperSlack = 32;
constexpr std::size_t kGzipTrailerSize = 8;
constexpr std::size_t kMaxPiece = UINT_MAX;

int checked_level(Encoding encoding, int level) {
    if (encoding == Encoding::Gzip) {
        if (level == kDefaultLevel) return kGzipDefaultLevel;
        if (level < 0 || level > 9) {
            throw InvalidArgument("gzip compression level must be 0-9, got " +
                                  std::to_string(level));
        }
    } else if (encoding == Encoding::Brotli) {
        if (level == kDefaultLevel) return kBrotliDefaultQuality;
        if (level < BROTLI_MIN_QUALITY || level > BROTLI_MAX_QUALITY) {
            throw InvalidArgument("brotli quality must be 0-11, got " + std::to_string(level));
        }
    }
    return level;
}

/// Owns a deflate stream for the length of one compression.
class Deflater {
public:
    explicit Deflater(int level) {
        int rc = deflateInit2(&stream_, level, Z_DEFLATED, kGzipWindowBits, kGzipMemLevel,
                              Z_DEFAULT_STRATEGY);
        if (rc == Z_MEM_ERROR) throw std::bad_alloc();
        if (rc != Z_OK) throw std::runtime_error("zlib deflateInit2 failed: " + std::to_string(rc));
    }
    ~Deflater() { deflateEnd(&stream_); }
    Deflater(const Deflater&) = delete;
    Deflater& operator=(const Deflater&) = delete;

    std::size_t run(const std::uint8_t* data, std::size_t size, std::uint8_t* out,
                    std::size_t out_size) {
        std::size_t consumed = 0;
        std::size_t produced = 0;
        for (;;) {
            std::size_t in_piece = std::min(size - consumed, kMaxPiece);
            std::size_t out_piece = std::min(out_size - produced, kMaxPiece);
            stream_.next_in = const_cast<Bytef*>(data + consumed);
            stream_.avail_in = static_cast<uInt>(in_piece);
            stream_.next_out = out + produced;
            stream_.avail_out = static_cast<uInt>(out_piece);
            int flush = consumed + in_piece == size ? Z_FINISH : Z_NO_FLUSH;
            int rc = deflate(&stream_, flush);
            consumed += in_piece - stream_.avail_in;
            produced += out_piece - stream_.avail_out;
            if (rc == Z_STREAM_END) return produced;
            if (rc == Z_OK) continue;
            if (rc == Z_BUF_ERROR && produced < out_size) continue;
            throw std::runtime_error("zlib deflate failed: " + std::to_string(rc));
        }
    }

private:
    z_stream stream_{};
};

}  // namespace

std::string decompress(std::string_view data, Encoding encoding, std::size_t max_output) {
    const auto* bytes = reinterpret_cast<const std::uint8_t*>(data.data());
    Decompressor decompressor(encoding, max_output);
    std::string out;
    StringOutputBuffer buffer(out);
    decompressor.feed(bytes, data.size(), buffer,
                      decompressed_size_hint(bytes, data.size(), encoding));
    decompressor.finish();
    return out;
}

std::size_t decompressed_size_hint(const std::uint8_t* data, std::size_t size,
                                   Encoding encoding) noexcept {
    if (encoding == Encoding::Identity) return size;
    if (encoding != Encoding::Gzip || size < kGzipTrailerSize + 10) return 0;
    const std::uint8_t* isize = data + size - 4;
    return static_cast<std::size_t>(isize[0]) | static_cast<std::size_t>(isize[1]) << 8 |
           static_cast<std::size_t>(isize[2]) << 16 | static_cast<std::size_t>(isize[3]) << 24;
}

std::size_t compress_bound(std::size_t size, Encoding encoding) {
    switch (encoding) {
        case Encoding::Gzip:
            return compressBound(size) + kGzipWrapperSlack;
        case Encoding::Brotli: {
            std::size_t bound = BrotliEncoderMaxCompressedSize(size);
            if (bound == 0) throw InvalidArgument("input too large for brotli");
            return bound;
        }
        case Encoding::Identity:
            break;
    }
    return size;
}

std::size_t compress_into(const std::uint8_t* data, std::size_t size, Encoding encoding, int level,
                          std::uint8_t* out, std::size_t out_size) {
    level = checked_level(encoding, level);
    if (out_size < compress_bound(size, encoding)) {
        throw InvalidArgument("compress_into: output buffer smaller than compress_bound");
    }
    switch (encoding) {
        case Encoding::Gzip:
            return Deflater(level).run(data, size, out, out_size);
        case Encoding::Brotli: {
            std::size_t encoded = out_size;
            if (!BrotliEncoderCompress(level, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_GENERIC, size,
                                       data, &encoded, out)) {
                throw std::runtime_error("brotli compression failed");
            }
            return encoded;
        }
        case Encoding::Identity:
            break;
    }
    if (size > 0) std::memcpy(out, data, size);
    return size;
}

std::string compress(std::string_view data, Encoding encoding, int level) {
    checked_level(encoding, level);
    std::string out(compress_bound(data.size(), encoding), '\0');
    std::size_t size =
        compress_into(reinterpret_cast<const std::uint8_t*>(data.data()), data.size(), encoding,
                      level, reinterpret_cast<std::uint8_t*>(out.data()), out.size());
    out.resize(size);
    return out;
}

}  // namespace asap_native::codec
