// Helpers shared by the test suites: where ../shared is, temporary folders, tolerances.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <string>

namespace fwsvd::testing {

// The shared data folder: $FWSVD_SHARED_DIR, else ../shared beside the source tree.
inline std::filesystem::path shared_dir() {
    if (const char* env = std::getenv("FWSVD_SHARED_DIR"); env && *env) return env;
    return std::filesystem::path(FWSVD_SOURCE_DIR) / ".." / "shared";
}

// True when the shared data is present. When it is absent, the calling test is skipped with a
// message saying so, or fails when FWSVD_REQUIRE_SHARED=1 (CI sets it).
inline bool have_shared() {
    return std::filesystem::exists(shared_dir() / "models");
}

#define FWSVD_REQUIRE_SHARED()                                                            \
    do {                                                                                  \
        if (!::fwsvd::testing::have_shared()) {                                           \
            const char* req = std::getenv("FWSVD_REQUIRE_SHARED");                        \
            std::string msg = "shared data not found at " +                               \
                              ::fwsvd::testing::shared_dir().string() +                   \
                              " (set FWSVD_SHARED_DIR to the folder that holds models/, " \
                              "data/, golden/)";                                          \
            if (req && std::string(req) == "1") FAIL() << msg;                            \
            GTEST_SKIP() << msg;                                                          \
        }                                                                                 \
    } while (0)

// A fresh, empty temporary folder removed when the object dies (never inside ../shared).
class TempDir {
  public:
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "fwsvd-test-XXXXXX").string();
        char* made = mkdtemp(tmpl.data());
        if (!made) throw std::runtime_error("mkdtemp failed");
        path_ = made;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

  private:
    std::filesystem::path path_;
};

// max |a - b| / max |b|: the relative error measure the issues state tolerances in.
template <typename A, typename B>
double max_rel_diff(const A* a, const B* b, size_t n) {
    double num = 0, den = 0;
    for (size_t i = 0; i < n; ++i) {
        num = std::max(num, std::abs(double(a[i]) - double(b[i])));
        den = std::max(den, std::abs(double(b[i])));
    }
    return den > 0 ? num / den : num;
}

}  // namespace fwsvd::testing
