#include "brotli_backend.hpp"

#include <new>
#include <string>

#include "asap_native/codec/errors.hpp"

namespace asap_native::codec {

BrotliBackend::BrotliBackend() : state_(BrotliDecoderCreateInstance(nullptr, nullptr, nullptr)) {
    if (state_ == nullptr) throw std::bad_alloc();
}

Decompressor::Progress BrotliBackend::decode(const std::uint8_t* input, std::size_t input_size,
                                             std::uint8_t* out, std::size_t out_size) {
    if (done_) {
        if (input_size > 0) throw CorruptData("br: data after the end of the stream");
        return {};
    }
    std::size_t available_in = input_size;
    const std::uint8_t* next_in = input;
    std::size_t available_out = out_size;
    std::uint8_t* next_out = out;
    BrotliDecoderResult result = BrotliDecoderDecompressStream(
        state_.get(), &available_in, &next_in, &available_out, &next_out, nullptr);
    Decompressor::Progress progress{input_size - available_in, out_size - available_out};
    switch (result) {
        case BROTLI_DECODER_RESULT_SUCCESS:
            done_ = true;
            if (available_in > 0) throw CorruptData("br: data after the end of the stream");
            return progress;
        case BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT:
        case BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT:
            return progress;
        case BROTLI_DECODER_RESULT_ERROR:
            break;
    }
    BrotliDecoderErrorCode code = BrotliDecoderGetErrorCode(state_.get());
    // Allocation failures are the machine's problem, not the data's.
    if (code <= BROTLI_DECODER_ERROR_ALLOC_CONTEXT_MODES &&
        code >= BROTLI_DECODER_ERROR_ALLOC_BLOCK_TYPE_TREES) {
        throw std::bad_alloc();
    }
    throw CorruptData(std::string("br: ") + BrotliDecoderErrorString(code));
}

}  // namespace asap_native::codec
