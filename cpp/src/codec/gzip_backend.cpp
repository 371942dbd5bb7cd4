#include "gzip_backend.hpp"

#include <algorithm>
#include <climits>
#include <new>
#include <stdexcept>
#include <string>

#include "asap_native/codec/errors.hpp"

namespace asap_native::codec {
namespace {

// zlib counts in uInt; larger buffers are fed in pieces.
constexpr std::size_t kMaxPiece = UINT_MAX;

// 15-bit window plus 16: gzip wrapper only (not zlib, not raw deflate).
constexpr int kGzipWindowBits = 15 + 16;

}  // namespace

GzipBackend::GzipBackend() {
    int rc = inflateInit2(&stream_, kGzipWindowBits);
    if (rc == Z_MEM_ERROR) throw std::bad_alloc();
    if (rc != Z_OK) throw std::runtime_error("zlib inflateInit2 failed: " + std::to_string(rc));
}

GzipBackend::~GzipBackend() { inflateEnd(&stream_); }

Decompressor::Progress GzipBackend::decode(const std::uint8_t* input, std::size_t input_size,
                                           std::uint8_t* out, std::size_t out_size) {
    Decompressor::Progress progress;
    for (;;) {
        if (state_ == State::BetweenMembers) {
            while (progress.consumed < input_size && input[progress.consumed] == 0) {
                ++progress.consumed;
            }
            if (progress.consumed == input_size) break;
            inflateReset(&stream_);
            state_ = State::InMember;
        }
        std::size_t in_piece = std::min(input_size - progress.consumed, kMaxPiece);
        std::size_t out_piece = std::min(out_size - progress.produced, kMaxPiece);
        if (in_piece == 0 && out_piece == 0) break;
        // zlib never writes through next_in; the cast is its API's.
        stream_.next_in = const_cast<Bytef*>(input + progress.consumed);
        stream_.avail_in = static_cast<uInt>(in_piece);
        stream_.next_out = out + progress.produced;
        stream_.avail_out = static_cast<uInt>(out_piece);
        int rc = inflate(&stream_, Z_NO_FLUSH);
        std::size_t used = in_piece - stream_.avail_in;
        std::size_t made = out_piece - stream_.avail_out;
        progress.consumed += used;
        progress.produced += made;
        if (used > 0 && state_ == State::Start) state_ = State::InMember;
        switch (rc) {
            case Z_STREAM_END:
                state_ = State::BetweenMembers;
                continue;
            case Z_OK:
                if (used == 0 && made == 0) return progress;
                continue;
            case Z_BUF_ERROR:  // no progress possible: input used up or output full
                return progress;
            case Z_DATA_ERROR:
            case Z_NEED_DICT:
                throw CorruptData(std::string("gzip: ") +
                                  (stream_.msg != nullptr ? stream_.msg : "invalid data"));
            case Z_MEM_ERROR:
                throw std::bad_alloc();
            default:
                throw std::logic_error("zlib inflate failed: " + std::to_string(rc));
        }
    }
    return progress;
}

}  // namespace asap_native::codec
