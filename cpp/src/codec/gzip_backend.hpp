// gzip (RFC 1952) decoding with zlib, members and zero padding as Python's gzip accepts.
#pragma once

#include <zlib.h>

#include "backend.hpp"

namespace asap_native::codec {

/// Inflates one gzip member after another; zero bytes between and after members are skipped,
/// anything else after a member must start a new one.
class GzipBackend final : public Decompressor::Backend {
public:
    GzipBackend();
    ~GzipBackend() override;

    Decompressor::Progress decode(const std::uint8_t* input, std::size_t input_size,
                                  std::uint8_t* out, std::size_t out_size) override;
    bool at_boundary() const override { return state_ != State::InMember; }

private:
    enum class State { Start, InMember, BetweenMembers };

    z_stream stream_{};
    State state_ = State::Start;
};

}  // namespace asap_native::codec
