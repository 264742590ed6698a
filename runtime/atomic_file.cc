#include "runtime/atomic_file.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>  // renameat2
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <random>

#include "runtime/error.h"

namespace fs = std::filesystem;

namespace fwsvd {
namespace {

std::string random_suffix() {
    static std::atomic<uint64_t> counter{0};
    std::random_device rd;
    uint64_t v = (uint64_t(rd()) << 32) ^ rd() ^ (counter++ * 0x9E3779B97F4A7C15ull);
    char buf[32];
    std::snprintf(buf, sizeof buf, "%d-%08llx", int(getpid()),
                  (unsigned long long)(v & 0xffffffff));
    return buf;
}

fs::path temp_sibling(const fs::path& dest) {
    fs::path parent = dest.parent_path();
    if (parent.empty()) parent = ".";
    std::string name = ".";  // built with append: GCC 12 warns falsely on "." + string
    name.append(dest.filename().string()).append(".fwsvd-tmp-").append(random_suffix());
    return parent / name;
}

// Paths removed on SIGINT/SIGTERM. Fixed-size so the handler touches no allocator.
constexpr int kMaxTemp = 64;
char g_temp_paths[kMaxTemp][4096];
std::atomic<bool> g_temp_used[kMaxTemp];
std::mutex g_temp_mutex;

void remove_tree_signal_safe(const char* path);

void interrupt_handler(int sig) {
    // Two passes: a temporary file inside a temporary folder may sit in a later slot, and the
    // folder can only be removed once it is gone.
    for (int pass = 0; pass < 2; ++pass) {
        for (int i = 0; i < kMaxTemp; ++i) {
            if (g_temp_used[i].load()) remove_tree_signal_safe(g_temp_paths[i]);
        }
    }
    signal(sig, SIG_DFL);
    raise(sig);
}

// Removes a file or a folder one level deep (the shape of fwsvd's outputs) with unlink/rmdir only.
void remove_tree_signal_safe(const char* path) {
    if (unlink(path) == 0) return;
    int dfd = open(path, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        // getdents is not in POSIX's async-signal-safe list, but unlinkat/rmdir are; the known
        // names fwsvd writes are removed explicitly.
        static const char* names[] = {
            "model.safetensors",       "config.json",           "vocab.txt",
            "tokenizer.json",          "tokenizer_config.json", "spiece.model",
            "special_tokens_map.json", "report.json",           "TRAINING.json"};
        for (const char* n : names) unlinkat(dfd, n, 0);
        close(dfd);
    }
    rmdir(path);
}

}  // namespace

void register_temp_path(const fs::path& path) {
    std::lock_guard<std::mutex> lock(g_temp_mutex);
    std::string s = fs::absolute(path).string();
    if (s.size() >= sizeof g_temp_paths[0]) return;
    for (int i = 0; i < kMaxTemp; ++i) {
        if (!g_temp_used[i].load()) {
            std::memcpy(g_temp_paths[i], s.c_str(), s.size() + 1);
            g_temp_used[i].store(true);
            return;
        }
    }
}

void unregister_temp_path(const fs::path& path) {
    std::lock_guard<std::mutex> lock(g_temp_mutex);
    std::string s = fs::absolute(path).string();
    for (int i = 0; i < kMaxTemp; ++i) {
        if (g_temp_used[i].load() && s == g_temp_paths[i]) g_temp_used[i].store(false);
    }
}

void install_interrupt_cleanup() {
    struct sigaction sa {};
    sa.sa_handler = interrupt_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, nullptr);
    sigaction(SIGTERM, &sa, nullptr);
}

void write_file_atomic(const fs::path& path, std::string_view content) {
    fs::path tmp = temp_sibling(path);
    register_temp_path(tmp);
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) {
        unregister_temp_path(tmp);
        throw Error(
            str_cat(path.string(), ": cannot create temporary file: ", std::strerror(errno)),
            ErrorKind::io);
    }
    const char* p = content.data();
    size_t left = content.size();
    while (left > 0) {
        ssize_t w = ::write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            ::close(fd);
            ::unlink(tmp.c_str());
            unregister_temp_path(tmp);
            throw Error(str_cat(path.string(), ": write failed: ", std::strerror(e)),
                        ErrorKind::io);
        }
        p += w;
        left -= size_t(w);
    }
    if (::fsync(fd) != 0 || ::close(fd) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        unregister_temp_path(tmp);
        throw Error(str_cat(path.string(), ": write failed: ", std::strerror(e)), ErrorKind::io);
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        unregister_temp_path(tmp);
        throw Error(str_cat(path.string(), ": cannot rename into place: ", std::strerror(e)),
                    ErrorKind::io);
    }
    unregister_temp_path(tmp);
}

AtomicDir::AtomicDir(const fs::path& destination) : dest_(destination) {
    FWSVD_CHECK(!dest_.empty(), "empty output folder name");
    std::error_code ec;
    if (fs::exists(dest_, ec) && !fs::is_directory(dest_, ec)) {
        throw Error(str_cat(dest_.string(), ": exists and is not a folder"), ErrorKind::usage);
    }
    fs::path parent = dest_.parent_path();
    if (!parent.empty() && !fs::exists(parent, ec)) {
        throw Error(str_cat(dest_.string(), ": parent folder ", parent.string(), " does not exist"),
                    ErrorKind::usage);
    }
    tmp_ = temp_sibling(dest_);
    fs::create_directory(tmp_, ec);
    if (ec) {
        throw Error(str_cat(dest_.string(), ": cannot create temporary folder: ", ec.message()),
                    ErrorKind::io);
    }
    register_temp_path(tmp_);
}

AtomicDir::~AtomicDir() {
    if (!committed_) {
        std::error_code ec;
        fs::remove_all(tmp_, ec);
        unregister_temp_path(tmp_);
    }
}

void AtomicDir::commit() {
    // Flush the files' data before they become visible under the final name.
    std::error_code dir_ec;
    for (const auto& entry : fs::directory_iterator(tmp_, dir_ec)) {
        int fd = ::open(entry.path().c_str(), O_RDONLY | O_CLOEXEC);
        if (fd >= 0) {
            ::fsync(fd);
            ::close(fd);
        }
    }
    std::error_code ec;
    if (fs::exists(dest_, ec)) {
        // Swap the two folders in one step where the file system can (Linux renameat2): the
        // destination is never absent, even if the process dies here. tmp_ then holds the
        // previous output, which is removed (and still registered for interrupt cleanup).
        if (::renameat2(AT_FDCWD, tmp_.c_str(), AT_FDCWD, dest_.c_str(), RENAME_EXCHANGE) == 0) {
            fs::remove_all(tmp_, ec);
            committed_ = true;
            unregister_temp_path(tmp_);
            return;
        }
        if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
            throw Error(str_cat(dest_.string(),
                                ": cannot swap the new output into place: ", std::strerror(errno)),
                        ErrorKind::io);
        }
        fs::path old = temp_sibling(dest_);
        fs::rename(dest_, old, ec);
        if (ec) {
            throw Error(
                str_cat(dest_.string(), ": cannot move the previous output aside: ", ec.message()),
                ErrorKind::io);
        }
        fs::rename(tmp_, dest_, ec);
        if (ec) {
            std::error_code ec2;
            fs::rename(old, dest_, ec2);  // put the previous output back
            throw Error(str_cat(dest_.string(), ": cannot rename into place: ", ec.message()),
                        ErrorKind::io);
        }
        fs::remove_all(old, ec);
    } else {
        fs::rename(tmp_, dest_, ec);
        if (ec) {
            throw Error(str_cat(dest_.string(), ": cannot rename into place: ", ec.message()),
                        ErrorKind::io);
        }
    }
    committed_ = true;
    unregister_temp_path(tmp_);
}

void check_output_distinct(const fs::path& output, const std::vector<fs::path>& inputs) {
    std::error_code ec;
    fs::path out = fs::weakly_canonical(fs::absolute(output), ec);
    for (const auto& in : inputs) {
        if (in.empty() || in == "-") continue;
        fs::path ip = fs::weakly_canonical(fs::absolute(in), ec);
        if (out == ip) {
            throw Error(str_cat("output ", output.string(), " is the same as input ", in.string(),
                                ": refusing to overwrite an input"),
                        ErrorKind::usage);
        }
        // Output inside an input folder (e.g. --out MODEL_DIR/sub) is fine; output that contains
        // an input (e.g. --out PARENT_OF_MODEL) would replace it.
        auto rel = ip.lexically_relative(out);
        if (!rel.empty() && *rel.begin() != "..") {
            throw Error(str_cat("output ", output.string(), " contains input ", in.string(),
                                ": refusing to overwrite an input"),
                        ErrorKind::usage);
        }
    }
}

}  // namespace fwsvd
