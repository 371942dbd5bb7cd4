#include "fault_injection.hpp"

#include <array>
#include <atomic>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>

namespace py = pybind11;

namespace asap_native::bindings {
namespace {

// What a fault throws: each kind of exception the completion path can meet.
enum class FaultKind { PythonError, BuiltinError, CppError, BadAlloc, MemoryError, Unknown };

struct Plan {
    FaultKind kind = FaultKind::CppError;
    long skip = 0;   // checks to let through first
    long times = 0;  // faults still to throw
};

constexpr std::size_t kPoints = 3;
std::atomic<bool> any_armed{false};
std::mutex plans_mutex;
std::array<Plan, kPoints> plans;

FaultPoint point_named(const std::string& name) {
    if (name == "convert") return FaultPoint::Convert;
    if (name == "error_object") return FaultPoint::ErrorObject;
    if (name == "drain") return FaultPoint::Drain;
    throw py::value_error("unknown fault point '" + name + "'");
}

FaultKind kind_named(const std::string& name) {
    if (name == "python_error") return FaultKind::PythonError;
    if (name == "builtin_error") return FaultKind::BuiltinError;
    if (name == "cpp_error") return FaultKind::CppError;
    if (name == "bad_alloc") return FaultKind::BadAlloc;
    if (name == "memory_error") return FaultKind::MemoryError;
    if (name == "unknown") return FaultKind::Unknown;
    throw py::value_error("unknown fault kind '" + name + "'");
}

[[noreturn]] void throw_fault(FaultKind kind) {
    switch (kind) {
        case FaultKind::PythonError:
            PyErr_SetString(PyExc_RuntimeError, "injected fault (Python error)");
            throw py::error_already_set();
        case FaultKind::BuiltinError:
            throw py::value_error("injected fault (pybind11 value_error)");
        case FaultKind::CppError:
            throw std::runtime_error("injected fault (C++ exception)");
        case FaultKind::BadAlloc:
            throw std::bad_alloc();
        case FaultKind::MemoryError:
            PyErr_NoMemory();
            throw py::error_already_set();
        case FaultKind::Unknown:
            throw 42;  // not derived from std::exception
    }
    throw std::logic_error("unreachable");
}

}  // namespace

void check_fault(FaultPoint point) {
    if (!any_armed.load(std::memory_order_relaxed)) return;
    FaultKind kind;
    {
        std::lock_guard<std::mutex> lock(plans_mutex);
        Plan& plan = plans[static_cast<std::size_t>(point)];
        if (plan.times <= 0) return;
        if (plan.skip > 0) {
            --plan.skip;
            return;
        }
        --plan.times;
        kind = plan.kind;
    }
    throw_fault(kind);
}

void register_fault_injection(py::module_& module) {
    module.def(
        "_inject_fault",
        [](const std::string& point, const std::string& kind, long skip, long times) {
            if (skip < 0 || times < 0) throw py::value_error("skip and times must be >= 0");
            std::lock_guard<std::mutex> lock(plans_mutex);
            plans[static_cast<std::size_t>(point_named(point))] =
                Plan{kind_named(kind), skip, times};
            any_armed.store(true);
        },
        py::arg("point"), py::arg("kind"), py::arg("skip") = 0, py::arg("times") = 1,
        "For tests: after `skip` passes through `point` ('convert', 'error_object', 'drain'), "
        "throw `kind` ('python_error', 'builtin_error', 'cpp_error', 'bad_alloc', "
        "'memory_error', 'unknown') `times` times.");
    module.def(
        "_clear_faults",
        [] {
            std::lock_guard<std::mutex> lock(plans_mutex);
            plans = {};
            any_armed.store(false);
        },
        "For tests: disarm every injected fault.");
}

}  // namespace asap_native::bindings
