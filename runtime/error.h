// The one exception type library code throws. Tools catch it in main and map it to exit codes.
#pragma once
#include <sstream>
#include <stdexcept>
#include <string>

namespace fwsvd {

enum class ErrorKind {
    invalid_input = 1,  // a file or value the user gave is wrong (exit code 1)
    usage = 2,          // wrong command-line use (exit code 2)
    io = 3,             // the system refused (open, read, write, rename, disk full)
    internal = 4,       // a bug: an invariant of fwsvd itself broke
};

class Error : public std::runtime_error {
  public:
    explicit Error(const std::string& message, ErrorKind kind = ErrorKind::invalid_input)
        : std::runtime_error(message), kind_(kind) {}
    ErrorKind kind() const { return kind_; }

  private:
    ErrorKind kind_;
};

namespace detail {
inline void append_all(std::ostringstream&) {}
template <typename First, typename... Rest>
void append_all(std::ostringstream& os, const First& first, const Rest&... rest) {
    os << first;
    append_all(os, rest...);
}
}  // namespace detail

// Concatenates its arguments with operator<< into one string.
template <typename... Args>
std::string str_cat(const Args&... args) {
    std::ostringstream os;
    detail::append_all(os, args...);
    return os.str();
}

// Throws Error(invalid_input) with the concatenated message unless cond holds.
#define FWSVD_CHECK(cond, ...)                                            \
    do {                                                                  \
        if (!(cond)) throw ::fwsvd::Error(::fwsvd::str_cat(__VA_ARGS__)); \
    } while (0)

}  // namespace fwsvd
