// Growable byte storage that a Decompressor writes into without an intermediate copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace asap_native::codec {

/// Storage for decoded bytes. Implementations own the memory (a std::string, a Python bytes
/// object...) so the decoder writes straight into the object the caller finally gets.
class OutputBuffer {
public:
    virtual ~OutputBuffer() = default;
    /// Number of bytes currently held.
    virtual std::size_t size() const = 0;
    /// Sets the size to `size` bytes, keeping the first min(old, new) bytes; returns the start.
    virtual std::uint8_t* resize(std::size_t size) = 0;
};

/// An OutputBuffer over a caller's std::string, appending to what it already holds.
class StringOutputBuffer final : public OutputBuffer {
public:
    explicit StringOutputBuffer(std::string& target) : target_(target) {}
    std::size_t size() const override { return target_.size(); }
    std::uint8_t* resize(std::size_t size) override;

private:
    std::string& target_;
};

}  // namespace asap_native::codec
