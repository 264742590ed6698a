#pragma once

namespace fwsvd {
// The library version, "MAJOR.MINOR.PATCH".
const char* version();
}  // namespace fwsvd
