// SQL functions the library's own statements call, registered on every connection it opens.
#pragma once

namespace asap_native::sqlite {

class Connection;

/// Registers asap_instant(text): the instant an ISO-8601 timestamp denotes, in microseconds
/// since the epoch (NULL for text that is not one), so windows compare instants, not text.
void register_library_functions(Connection& connection);

}  // namespace asap_native::sqlite
