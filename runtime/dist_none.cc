// The distributed runtime of a build without MPI: the job is always one process.
#include "runtime/dist.h"

namespace fwsvd {

void start_distributed(int*, char***) {}
void stop_distributed() {}
std::string distributed_library() {
    return "";
}

}  // namespace fwsvd
