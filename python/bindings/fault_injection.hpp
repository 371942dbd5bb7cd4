// Test-only faults in the completion path, so tests can prove that no failure there can lose
// a result or leave an await hanging. Disarmed, a check costs one relaxed atomic load.
#pragma once

#include <pybind11/pybind11.h>

namespace asap_native::bindings {

/// Where a fault can be injected.
enum class FaultPoint {
    Convert,      ///< turning one result into its Python object
    ErrorObject,  ///< building the Python exception of a failed call
    Drain,        ///< after a drain took its completions, before handing any over
};

/// Throws the armed fault when `point` is armed and its turn has come; else does nothing.
void check_fault(FaultPoint point);

/// Registers _core._inject_fault(point, kind, skip=0, times=1) and _core._clear_faults().
void register_fault_injection(pybind11::module_& module);

}  // namespace asap_native::bindings
