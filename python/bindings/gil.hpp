// Releasing the GIL around core calls in a way that survives interpreter shutdown.
#pragma once

#include <pybind11/pybind11.h>

#ifdef __GLIBCXX__
#include <cxxabi.h>
#endif

#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

namespace asap_native::bindings {

/// Releases the GIL for a scope, as py::gil_scoped_release does, but with a destructor that
/// may throw. When a daemon thread wants the GIL back after finalization has begun, CPython
/// (before 3.14) ends it with pthread_exit(), whose forced unwind must not leave a noexcept
/// destructor (that is std::terminate, "terminate called without an active exception");
/// letting it through ends the thread quietly, as CPython ends pure-Python daemon threads.
/// Use it through without_gil(), which never re-takes the GIL while an exception unwinds.
class ReleaseGil {
public:
    ReleaseGil() : state_(PyEval_SaveThread()) {}
    ~ReleaseGil() noexcept(false) { PyEval_RestoreThread(state_); }
    ReleaseGil(const ReleaseGil&) = delete;
    ReleaseGil& operator=(const ReleaseGil&) = delete;

private:
    PyThreadState* state_;
};

/// Runs `work` with the GIL released and returns its result. An exception from `work` is
/// held until the GIL is back and rethrown then: re-taking the GIL during unwinding could
/// meet pthread_exit() at shutdown, and a second unwind during the first is std::terminate.
template <typename Work>
auto without_gil(Work&& work) -> decltype(work()) {
    using Result = decltype(work());
    std::exception_ptr error;
    if constexpr (std::is_void_v<Result>) {
        {
            ReleaseGil release;
            try {
                work();
#ifdef __GLIBCXX__
            } catch (abi::__forced_unwind&) {
                throw;
#endif
            } catch (...) {
                error = std::current_exception();
            }
        }
        if (error) std::rethrow_exception(error);
    } else {
        std::optional<Result> result;
        {
            ReleaseGil release;
            try {
                result.emplace(work());
#ifdef __GLIBCXX__
            } catch (abi::__forced_unwind&) {
                throw;
#endif
            } catch (...) {
                error = std::current_exception();
            }
        }
        if (error) std::rethrow_exception(error);
        return std::move(*result);
    }
}

}  // namespace asap_native::bindings
