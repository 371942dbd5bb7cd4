// Telling a forked child from its parent without a system call per operation.
#pragma once

#include <cstdint>

namespace asap_native {

/// A number that changes in the child process after every fork(). Objects that own threads,
/// locks or SQLite connections record it and start afresh when it differs. Reading it costs
/// an atomic load (getpid() is a system call on every invocation in current glibc).
std::uint64_t process_generation() noexcept;

}  // namespace asap_native
