// Outputs that appear whole or not at all: write to a temporary sibling, then rename into place.
#pragma once
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace fwsvd {

// Writes content to path through a temporary file in the same folder, fsync, rename.
void write_file_atomic(const std::filesystem::path& path, std::string_view content);

// A folder built under a temporary name next to its destination and moved into place by
// commit(). If the destination exists it is replaced only at commit (the old one is moved aside
// and removed after the swap). Without commit() the temporary folder is removed.
class AtomicDir {
  public:
    explicit AtomicDir(const std::filesystem::path& destination);
    ~AtomicDir();
    AtomicDir(const AtomicDir&) = delete;
    AtomicDir& operator=(const AtomicDir&) = delete;

    // Where to write the files now.
    const std::filesystem::path& path() const { return tmp_; }
    void commit();

  private:
    std::filesystem::path dest_;
    std::filesystem::path tmp_;
    bool committed_ = false;
};

// Throws Error(usage) if output is the same file or folder as an input, or a folder that contains
// an input, so that no command replaces what it reads.
void check_output_distinct(const std::filesystem::path& output,
                           const std::vector<std::filesystem::path>& inputs);

// Registers a temporary path to remove if the process is interrupted (SIGINT/SIGTERM) and
// unregisters it. Tools install the handler with install_interrupt_cleanup().
void register_temp_path(const std::filesystem::path& path);
void unregister_temp_path(const std::filesystem::path& path);
void install_interrupt_cleanup();

}  // namespace fwsvd
