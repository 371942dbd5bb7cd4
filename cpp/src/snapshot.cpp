#include "asap_native/snapshot.hpp"

#include <string>

#include "asap_native/errors.hpp"
#include "asap_native/timestamp.hpp"

namespace asap_native {

void validate_snapshot(const Snapshot& snapshot) {
    // Ids and versions are what the caller chose (asap-protocol stores any); only the instant
    // must be readable back.
    if (!parse_iso8601(snapshot.created_at))
        throw InvalidArgument("snapshot created_at must be an ISO-8601 timestamp, got '" +
                              snapshot.created_at.substr(0, 64) + "'");
}

}  // namespace asap_native
