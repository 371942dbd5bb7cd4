// Brotli (RFC 7932) decoding with libbrotlidec.
#pragma once

#include <brotli/decode.h>

#include <memory>

#include "backend.hpp"

namespace asap_native::codec {

/// Decodes one brotli stream; any byte after its end is an error, as in the brotli package.
class BrotliBackend final : public Decompressor::Backend {
public:
    BrotliBackend();

    Decompressor::Progress decode(const std::uint8_t* input, std::size_t input_size,
                                  std::uint8_t* out, std::size_t out_size) override;
    bool at_boundary() const override { return done_; }

private:
    struct DestroyState {
        void operator()(BrotliDecoderState* state) const { BrotliDecoderDestroyInstance(state); }
    };

    std::unique_ptr<BrotliDecoderState, DestroyState> state_;
    bool done_ = false;
};

}  // namespace asap_native::codec
