#include "runtime/read_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "runtime/error.h"

namespace fwsvd {

std::string read_file(const std::filesystem::path& path, size_t max_bytes, std::string_view what) {
    const std::string where = path.string();
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        const int e = errno;
        if (e == ENOENT || e == ENOTDIR) throw Error(str_cat(where, ": ", what, " not found"));
        throw Error(str_cat(where, ": cannot open ", what, ": ", std::strerror(e)), ErrorKind::io);
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int e = errno;
        ::close(fd);
        throw Error(str_cat(where, ": cannot stat: ", std::strerror(e)), ErrorKind::io);
    }
    if (S_ISDIR(st.st_mode)) {
        ::close(fd);
        throw Error(str_cat(where, ": is a folder, expected ", what));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        throw Error(str_cat(where, ": is not a regular file (expected ", what, ")"));
    }
    if (uint64_t(st.st_size) > max_bytes) {
        ::close(fd);
        throw Error(str_cat(where, ": is ", st.st_size, " bytes, more than the limit of ",
                            max_bytes, " for ", what));
    }
    std::string out(size_t(st.st_size), '\0');
    size_t got = 0;
    while (got < out.size()) {
        ssize_t n = ::read(fd, out.data() + got, out.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            const int e = errno;
            ::close(fd);
            throw Error(str_cat(where, ": read failed: ", std::strerror(e)), ErrorKind::io);
        }
        if (n == 0) break;  // shrank while reading
        got += size_t(n);
    }
    ::close(fd);
    out.resize(got);
    return out;
}

}  // namespace fwsvd
