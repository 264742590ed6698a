// Running the fwsvd binaries from tests: exit code, stdout and stderr of one invocation.
#pragma once
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/test_util.h"

namespace fwsvd::testing {

struct CmdResult {
    int code = -1;
    std::string out;
    std::string err;
};

inline std::string shell_quote(const std::string& s) {
    std::string q = "'";
    for (char c : s) {
        if (c == '\'') {
            q += "'\\''";
        } else {
            q += c;
        }
    }
    return q + "'";
}

inline std::string tool_path(const std::string& name) {
    return std::string(FWSVD_BINARY_DIR) + "/tools/" + name;
}

// Runs tool (fwsvd, fwsvd-run) with args; stdin from stdin_file when non-empty.
inline CmdResult run_tool(const std::string& tool, const std::vector<std::string>& args,
                          const std::string& stdin_file = "") {
    TempDir tmp;
    std::string cmd = "FWSVD_NO_PROGRESS=1 " + shell_quote(tool_path(tool));
    for (const auto& a : args) cmd += " " + shell_quote(a);
    cmd += " >" + shell_quote((tmp / "out").string()) + " 2>" + shell_quote((tmp / "err").string());
    cmd += " <" + (stdin_file.empty() ? std::string("/dev/null") : shell_quote(stdin_file));
    int status = std::system(cmd.c_str());
    CmdResult r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    auto slurp = [](const std::filesystem::path& p) {
        std::ifstream in(p, std::ios::binary);
        std::stringstream ss;
        ss << in.rdbuf();
        return ss.str();
    };
    r.out = slurp(tmp / "out");
    r.err = slurp(tmp / "err");
    return r;
}

// The header and the first n rows of a TSV, in a new file.
inline void head_tsv(const std::filesystem::path& src, const std::filesystem::path& dst, int n) {
    std::ifstream in(src);
    std::ofstream out(dst);
    std::string line;
    for (int i = 0; i <= n && std::getline(in, line); ++i) out << line << "\n";
}

inline void write_text(const std::filesystem::path& p, const std::string& content) {
    std::ofstream out(p, std::ios::binary);
    out << content;
}

}  // namespace fwsvd::testing
