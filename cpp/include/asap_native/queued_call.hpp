// What every queued (awaitable) store call has in common: its outcome arrives through a
// callback, so the same call works for every store kind and every caller (a Python event
// loop, a C++ thread pool, a test).
#pragma once

#include <exception>
#include <functional>
#include <type_traits>
#include <utility>

namespace asap_native {

/// The result of a call that returns nothing.
struct Nothing {};

/// Receives the outcome of a queued call exactly once, on a store thread (or inline, for
/// stores that never wait): the result, or the error that replaced it, in which case the
/// result is value-initialized. Must not throw.
template <typename Result>
using Done = std::function<void(Result, std::exception_ptr)>;

/// The queued form of a call for stores that never wait (in memory): runs `work()` now, on
/// the caller's thread, and hands its outcome to `done`.
template <typename Result, typename Work>
void complete_now(Work&& work, const Done<Result>& done) {
    Result result{};
    std::exception_ptr error;
    try {
        if constexpr (std::is_void_v<decltype(work())>)
            work();
        else
            result = work();
    } catch (...) {
        error = std::current_exception();
    }
    done(std::move(result), error);
}

}  // namespace asap_native
