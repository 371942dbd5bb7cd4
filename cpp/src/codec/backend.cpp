#include "backend.hpp"

#include <algorithm>
#include <cstring>

#include "brotli_backend.hpp"
#include "gzip_backend.hpp"

namespace asap_native::codec {
namespace {

/// identity: bytes pass through unchanged (the limit still applies).
class IdentityBackend final : public Decompressor::Backend {
public:
    Decompressor::Progress decode(const std::uint8_t* input, std::size_t input_size,
                                  std::uint8_t* out, std::size_t out_size) override {
        std::size_t count = std::min(input_size, out_size);
        if (count > 0) std::memcpy(out, input, count);
        return {count, count};
    }
    bool at_boundary() const override { return true; }
};

}  // namespace

std::unique_ptr<Decompressor::Backend> make_backend(Encoding encoding) {
    switch (encoding) {
        case Encoding::Gzip:
            return std::make_unique<GzipBackend>();
        case Encoding::Brotli:
            return std::make_unique<BrotliBackend>();
        case Encoding::Identity:
            break;
    }
    return std::make_unique<IdentityBackend>();
}

}  // namespace asap_native::codec
