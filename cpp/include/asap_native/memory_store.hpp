// What the in-memory stores share: a lock over their data, closing, and figures.
#pragma once

#include <atomic>
#include <mutex>
#include <shared_mutex>

#include "asap_native/errors.hpp"
#include "asap_native/store_stats.hpp"

namespace asap_native {

/// Implements `Interface`'s lifetime and figures for a store held in process memory; the
/// store guards its data with `mutex_` and calls `ensure_open()` first in every operation.
template <typename Interface>
class MemoryStore : public Interface {
public:
    StoreFigures stats() const override { return stats_.figures(); }

    void close() override {
        std::unique_lock lock(mutex_);  // waits for calls in progress
        closed_.store(true);
    }

    bool is_closed() const override { return closed_.load(); }

protected:
    void ensure_open() const {
        if (closed_.load()) throw store_closed_error();
    }

    StoreStats stats_;
    std::shared_mutex mutex_;

private:
    std::atomic<bool> closed_{false};
};

}  // namespace asap_native
