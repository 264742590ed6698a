#include "runtime/version.h"

namespace fwsvd {
const char* version() {
    return FWSVD_VERSION;
}
}  // namespace fwsvd
