// Releasing the GIL around core calls in a way that survives interpreter shutdown.
#pragma once

#include <pybind11/pybind11.h>

#ifdef __GLIBCXX__
#include <cxxabi.h>
#endif

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <exception>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>

namespace asap_native::bindings {

/// Lets go of the GIL, at once or on demand (release()), and takes it back by the end of the
/// scope, as py::gil_scoped_release does, but with a destructor that may throw. When a daemon
/// thread wants the GIL back after finalization has begun, CPython (before 3.14) ends it with
/// pthread_exit(), whose forced unwind must not leave a noexcept destructor (that is
/// std::terminate, "terminate called without an active exception"); letting it through ends
/// the thread quietly, as CPython ends pure-Python daemon threads. Release the GIL around a
/// whole call through without_gil(), which never re-takes it while an exception unwinds.
///
/// Where the extension's C++ runtime brings its own unwinder (the wheels: zig's libc++ with LLVM
/// libunwind), that forced unwind crashes instead (SIGSEGV: the personality routine reads
/// glibc's libgcc unwind context with LLVM's accessors). So once the interpreter is exiting
/// (install_exit_guard()) a thread coming back from its work parks, as CPython 3.14 parks such
/// threads itself, and threads already waiting for the GIL are let through first.
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
        if (state_ != nullptr) return;
        state_ = PyEval_SaveThread();
        in_flight().fetch_add(1);
    }
    void reacquire() {
        if (state_ == nullptr) return;
        PyThreadState* state = state_;
        state_ = nullptr;
        if (exiting().load() || interpreter_is_finalizing()) {
            in_flight().fetch_sub(1);
            park_forever();
        }
        PyEval_RestoreThread(state);
        in_flight().fetch_sub(1);
    }
    bool released() const { return state_ != nullptr; }

    /// Threads between releasing the GIL and having it back, parked ones excluded.
    static std::atomic<int>& in_flight() {
        static std::atomic<int> count{0};
        return count;
    }
    /// Set by the atexit callback, before CPython starts ending threads.
    static std::atomic<bool>& exiting() {
        static std::atomic<bool> flag{false};
        return flag;
    }

private:
    static bool interpreter_is_finalizing() {
#if PY_VERSION_HEX >= 0x030D0000
        return Py_IsFinalizing() != 0;
#else
        return _Py_IsFinalizing() != 0;
#endif
    }

    // The process ends around it; the thread holds no lock and touches nothing meanwhile.
    [[noreturn]] static void park_forever() {
        for (;;) ::pause();
    }

    PyThreadState* state_ = nullptr;
};

/// Registers the atexit callback that makes threads inside store calls park rather than meet
/// pthread_exit() (see GilRelease). It runs after non-daemon threads were joined and before
/// finalization: it sets the flag, then gives up the GIL for at most 100 ms so that threads
/// waiting for it get it now, while taking it is still safe. Called with the GIL held.
inline void install_exit_guard() {
    namespace py = pybind11;
    py::module_::import("atexit").attr("register")(py::cpp_function([] {
        GilRelease::exiting().store(true);
        if (GilRelease::in_flight().load() == 0) return;
        py::gil_scoped_release release;
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(100);
        while (GilRelease::in_flight().load() > 0 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }));
}

/// Runs `work` with the GIL released and returns its result. An exception from `work` is
/// held until the GIL is back and rethrown then: re-taking the GIL during unwinding could
/// meet pthread_exit() at shutdown, and a second unwind during the first is std::terminate.
template <typename Work>
auto without_gil(Work&& work) -> decltype(work()) {
    using Result = decltype(work());
    if constexpr (std::is_void_v<Result>) {
        without_gil([&work] {
            work();
            return std::monostate{};
        });
    } else {
        std::optional<Result> result;
        std::exception_ptr error;
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
