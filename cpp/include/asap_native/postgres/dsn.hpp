// Checking and describing connection strings without ever showing a credential.
#pragma once

#include <string>

namespace asap_native::pg {

/// Throws InvalidArgument when libpq cannot parse `dsn` (a "key=value ..." connection string or
/// a postgresql:// URL). The message never quotes the DSN's values (a password could be one).
void validate_dsn(const std::string& dsn);

/// "host=... port=... dbname=... user=...": where a DSN points, for messages and repr(); no
/// password or other secret. "(invalid dsn)" when it does not parse.
std::string describe_dsn(const std::string& dsn);

}  // namespace asap_native::pg
