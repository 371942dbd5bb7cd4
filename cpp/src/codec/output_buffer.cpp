#include "asap_native/codec/output_buffer.hpp"

namespace asap_native::codec {

std::uint8_t* StringOutputBuffer::resize(std::size_t size) {
    target_.resize(size);
    return reinterpret_cast<std::uint8_t*>(target_.data());
}

}  // namespace asap_native::codec
