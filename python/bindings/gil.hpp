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

/// Lets go of the GIL, at once or on demand (release()), and takes it back by the end of the
/// scope, as py::gil_scoped_release does, but with a destructor that may throw. When a daemon
/// thread wants the GIL back after finalization has begun, CPython (before 3.14) ends it with
/// pthread_exit(), whose forced unwind must not leave a noexcept destructor (that is
/// std::terminate, "terminate called without an active exception"); letting it through ends
/// the thread quietly, as CPython ends pure-Python daemon threads. Release the GIL around a
/// whole call through without_gil(), which never re-takes it while an exception unwinds.
class GilRelease {
public:
    enum class Start { Released, Held };
    explicit GilRelease(Start start = Start::Released) {
        if (start == Start::Released) release();
    }
    ~GilRelease() noexcept(false) { reacquire(); }
    GilRelease(const GilRelease&) = delete;
    GilRelease& operator=(const GilRelease&) = delete;

    void release() {
        if (state_ == nullptr) state_ = PyEval_SaveThread();
    }
    void reacquire() {
        if (state_ != nullptr) {
            PyThreadState* state = state_;
            state_ = nullptr;
            PyEval_RestoreThread(state);
        }
    }
    bool released() const { return state_ != nullptr; }

private:
    PyThreadState* state_ = nullptr;
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
            GilRelease release;
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
            GilRelease release;
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
