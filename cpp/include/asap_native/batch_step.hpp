// One write of a group commit, as the executor hands it to a database's run_batch().
#pragma once

#include <functional>

namespace asap_native {

/// One write of a group commit: runs on `Connection` inside the batch's shared transaction.
template <typename Connection>
using BatchStep = std::function<void(Connection&)>;

}  // namespace asap_native
