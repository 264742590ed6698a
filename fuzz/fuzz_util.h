// Helpers of the fuzz targets: a per-process scratch folder and a crash-on-bug check.
#pragma once
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace fwsvd::fuzz {

// Aborts (a finding for libFuzzer) when an invariant fails: a bug, not bad input.
#define FWSVD_FUZZ_ASSERT(cond)                                                               \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            std::fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            std::abort();                                                                     \
        }                                                                                     \
    } while (0)

// A scratch folder for this process (in /dev/shm when there is one), removed at exit.
inline const std::filesystem::path& scratch_dir() {
    static const std::filesystem::path dir = [] {
        std::string base = std::filesystem::exists("/dev/shm") ? "/dev/shm" : "/tmp";
        std::string tmpl = base + "/fwsvd-fuzz-XXXXXX";
        if (!mkdtemp(tmpl.data())) std::abort();
        static std::filesystem::path made = tmpl;
        std::atexit([] {
            std::error_code ec;
            std::filesystem::remove_all(made, ec);
        });
        return made;
    }();
    return dir;
}

inline void write_bytes(const std::filesystem::path& p, std::string_view bytes) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
}

}  // namespace fwsvd::fuzz
