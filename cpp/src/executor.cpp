#include "asap_native/executor.hpp"

namespace asap_native {

int default_executor_readers() noexcept {
    const unsigned cores = std::thread::hardware_concurrency();
    return static_cast<int>(std::clamp(cores == 0 ? 2u : cores, 2u, 4u));
}

}  // namespace asap_native
