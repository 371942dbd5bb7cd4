#include "asap_native/process_generation.hpp"

#include <pthread.h>

#include <atomic>

namespace asap_native {
namespace {

std::atomic<std::uint64_t> generation{0};

void after_fork_in_child() { generation.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

std::uint64_t process_generation() noexcept {
    // Registered on first use: anything that recorded a generation did so after this.
    static const bool registered = pthread_atfork(nullptr, nullptr, after_fork_in_child) == 0;
    (void)registered;
    return generation.load(std::memory_order_relaxed);
}

}  // namespace asap_native
