#include "asap_native/codec/decompressor.hpp"

#include <algorithm>
#include <stdexcept>

#include "asap_native/codec/errors.hpp"
#include "asap_native/errors.hpp"
#include "backend.hpp"

namespace asap_native::codec {
namespace {

// First output step when the size is unknown: a few times the input (JSON compresses 4-10x),
// so most bodies need one allocation (each further one may wait for the GIL in the binding).
// Capped, and never past the limit: a bomb's real size is found by growing geometrically.
constexpr std::size_t kMinFirstStep = 256;
constexpr std::size_t kMaxFirstStep = 8 << 20;
constexpr std::size_t kInputExpansionGuess = 4;
constexpr std::size_t kMinStep = 16 * 1024;

// A size hint comes from the untrusted input, so it is believed only as far as deflate can
// expand (1032:1) and up to a cap; growth continues geometrically past it.
constexpr std::size_t kMaxExpansion = 1032;
constexpr std::size_t kMaxHintedStep = 64 << 20;

std::size_t first_step(std::size_t input_size, std::size_t size_hint) {
    if (size_hint > 0) {
        std::size_t plausible = input_size > kMaxHintedStep / kMaxExpansion
                                    ? kMaxHintedStep
                                    : input_size * kMaxExpansion;
        // One spare byte so an exact hint needs no second step to see the end of the input.
        return std::min(size_hint, plausible) + 1;
    }
    std::size_t guess = input_size > kMaxFirstStep / kInputExpansionGuess
                            ? kMaxFirstStep
                            : input_size * kInputExpansionGuess;
    return std::clamp(guess, kMinFirstStep, kMaxFirstStep);
}

}  // namespace

Decompressor::Decompressor(Encoding encoding, std::size_t max_output)
    : encoding_(encoding), max_output_(max_output), backend_(make_backend(encoding)) {}

Decompressor::~Decompressor() = default;
Decompressor::Decompressor(Decompressor&&) noexcept = default;
Decompressor& Decompressor::operator=(Decompressor&&) noexcept = default;

std::size_t Decompressor::output_allowance() const noexcept {
    if (max_output_ == kNoLimit) return kNoLimit;
    if (total_out_ > max_output_) return 0;
    return static_cast<std::size_t>(max_output_ - total_out_) + 1;
}

void Decompressor::check_usable() const {
    if (failure_) std::rethrow_exception(failure_);
    if (finished_) throw InvalidArgument("decompressor already finished");
}

void Decompressor::fail(std::exception_ptr error) {
    failure_ = error;
    std::rethrow_exception(error);
}

Decompressor::Progress Decompressor::decode_some(const std::uint8_t* input, std::size_t input_size,
                                                 std::uint8_t* out, std::size_t out_size) {
    check_usable();
    out_size = std::min(out_size, output_allowance());
    Progress progress;
    try {
        progress = backend_->decode(input, input_size, out, out_size);
    } catch (...) {
        fail(std::current_exception());
    }
    total_in_ += progress.consumed;
    total_out_ += progress.produced;
    if (total_out_ > max_output_) {
        fail(std::make_exception_ptr(
            DecompressionLimitExceeded(std::string("decompressed data exceeds the maximum of ") +
                                           std::to_string(max_output_) + " bytes",
                                       max_output_)));
    }
    return progress;
}

void Decompressor::feed(const std::uint8_t* input, std::size_t size, OutputBuffer& out,
                        std::size_t size_hint) {
    check_usable();
    if (size == 0) return;
    const std::size_t start = out.size();
    std::size_t used = start;
    std::size_t capacity = start;
    std::uint8_t* base = nullptr;
    std::size_t consumed = 0;
    try {
        for (;;) {
            if (used == capacity || base == nullptr) {
                // Room only up to the byte that trips the limit, so a bomb never gets further.
                std::size_t step =
                    used == start ? first_step(size, size_hint) : std::max(kMinStep, used - start);
                step = std::min(step, output_allowance());
                capacity = used + step;
                base = out.resize(capacity);
            }
            Progress progress =
                decode_some(input + consumed, size - consumed, base + used, capacity - used);
            consumed += progress.consumed;
            used += progress.produced;
            // Room left over means the decoder has nothing pending.
            if (consumed == size && used < capacity) break;
            if (progress.consumed == 0 && progress.produced == 0 && used < capacity) {
                throw std::logic_error("decoder made no progress");  // a bug, never a spin
            }
        }
    } catch (...) {
        out.resize(used);
        throw;
    }
    out.resize(used);
}

void Decompressor::feed(std::string_view input, std::string& out) {
    StringOutputBuffer buffer(out);
    feed(reinterpret_cast<const std::uint8_t*>(input.data()), input.size(), buffer);
}

std::string Decompressor::feed(std::string_view input) {
    std::string out;
    feed(input, out);
    return out;
}

void Decompressor::finish() {
    check_usable();
    if (!backend_->at_boundary()) {
        fail(std::make_exception_ptr(TruncatedData(std::string(encoding_name(encoding_)) +
                                                   ": compressed data ended before the end of "
                                                   "the stream")));
    }
    finished_ = true;
}

}  // namespace asap_native::codec
