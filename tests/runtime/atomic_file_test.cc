// Nothing lost: outputs written through write_file_atomic / AtomicDir / SafetensorsWriter leave
// the previous output intact when the write fails, and an interrupt removes the temporaries.
// (Tests may run as root, which ignores permissions: failures are made with a path through a
// regular file, a folder in the way, or RLIMIT_FSIZE.)
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/atomic_file.h"
#include "runtime/safetensors.h"
#include "tests/bad_input_util.h"

namespace fwsvd::testing {
namespace {

namespace fs = std::filesystem;

// Lowers RLIMIT_FSIZE (files may not grow beyond `bytes`) for the object's life; writes past it
// fail with EFBIG instead of raising SIGXFSZ.
class FileSizeLimit {
  public:
    explicit FileSizeLimit(rlim_t bytes) {
        getrlimit(RLIMIT_FSIZE, &saved_);
        old_handler_ = signal(SIGXFSZ, SIG_IGN);
        rlimit r = saved_;
        r.rlim_cur = bytes;
        setrlimit(RLIMIT_FSIZE, &r);
    }
    ~FileSizeLimit() {
        setrlimit(RLIMIT_FSIZE, &saved_);
        signal(SIGXFSZ, old_handler_);
    }

  private:
    rlimit saved_{};
    sighandler_t old_handler_;
};

TEST(AtomicFile, WriteFailureMidwayKeepsThePreviousFile) {
    TempDir tmp;
    const fs::path out = tmp / "logits.safetensors";
    write_bytes(out, "previous complete output");
    Caught c;
    {
        FileSizeLimit limit(4096);
        c = catch_error([&] { write_file_atomic(out, std::string(1 << 20, 'x')); });
    }
    ASSERT_TRUE(c.thrown);
    EXPECT_NE(c.message.find(out.string() + ": write failed"), std::string::npos) << c.message;
    EXPECT_EQ(c.kind, ErrorKind::io);
    EXPECT_EQ(read_bytes(out), "previous complete output");
    EXPECT_TRUE(temporaries(tmp.path()).empty());
}

TEST(AtomicFile, SafetensorsWriterFailureKeepsThePreviousFile) {
    TempDir tmp;
    const fs::path out = tmp / "w.safetensors";
    write_bytes(out, "previous");
    SafetensorsWriter w;
    std::vector<float> big(1 << 18, 1.0f);
    w.add_f32("x", {int64_t(big.size())}, big.data());
    Caught c;
    {
        FileSizeLimit limit(8192);
        c = catch_error([&] { w.write(out); });
    }
    EXPECT_TRUE(c.thrown);
    EXPECT_EQ(read_bytes(out), "previous");
    EXPECT_TRUE(temporaries(tmp.path()).empty());
    w.write(out);  // and it works once the limit is gone
    EXPECT_EQ(SafetensorsFile::open(out)->get("x").numel, int64_t(big.size()));
}

TEST(AtomicFile, PathThroughARegularFile) {
    TempDir tmp;
    write_bytes(tmp / "file", "keep");
    Caught c = expect_error([&] { write_file_atomic(tmp / "file" / "out.txt", "new"); },
                            {(tmp / "file" / "out.txt").string(), "cannot create temporary file"});
    EXPECT_EQ(c.kind, ErrorKind::io);
    EXPECT_EQ(read_bytes(tmp / "file"), "keep");
    EXPECT_TRUE(temporaries(tmp.path()).empty());
}

TEST(AtomicFile, FolderInTheWay) {
    TempDir tmp;
    fs::create_directory(tmp / "out");
    write_bytes(tmp / "out" / "inside", "keep");
    expect_error([&] { write_file_atomic(tmp / "out", "new"); },
                 {(tmp / "out").string(), "cannot rename into place"});
    EXPECT_EQ(read_bytes(tmp / "out" / "inside"), "keep");
    EXPECT_TRUE(temporaries(tmp.path()).empty());
}

TEST(AtomicDir, FailureBeforeCommitKeepsThePreviousFolder) {
    TempDir tmp;
    const fs::path dest = tmp / "model";
    fs::create_directory(dest);
    write_bytes(dest / "config.json", "old config");
    {
        AtomicDir dir(dest);
        write_file_atomic(dir.path() / "config.json", "new config");
        // A write that fails (a path through a regular file) aborts the command before commit.
        EXPECT_THROW(write_file_atomic(dir.path() / "config.json" / "x", "y"), Error);
    }
    EXPECT_EQ(read_bytes(dest / "config.json"), "old config");
    EXPECT_TRUE(temporaries(tmp.path()).empty());
    {
        AtomicDir dir(dest);
        FileSizeLimit limit(1024);
        EXPECT_THROW(write_file_atomic(dir.path() / "model.safetensors", std::string(1 << 16, 'w')),
                     Error);
    }
    EXPECT_EQ(read_bytes(dest / "config.json"), "old config");
    EXPECT_FALSE(fs::exists(dest / "model.safetensors"));
    EXPECT_TRUE(temporaries(tmp.path()).empty());
}

TEST(AtomicDir, CommitReplacesTheWholeFolder) {
    TempDir tmp;
    const fs::path dest = tmp / "model";
    fs::create_directory(dest);
    write_bytes(dest / "stale.txt", "old");
    {
        AtomicDir dir(dest);
        write_file_atomic(dir.path() / "config.json", "new");
        dir.commit();
    }
    EXPECT_EQ(read_bytes(dest / "config.json"), "new");
    EXPECT_FALSE(fs::exists(dest / "stale.txt"));
    EXPECT_TRUE(temporaries(tmp.path()).empty());
    {
        AtomicDir dir(tmp / "fresh");
        write_file_atomic(dir.path() / "a", "1");
        dir.commit();
    }
    EXPECT_EQ(read_bytes(tmp / "fresh" / "a"), "1");
}

TEST(AtomicDir, BadDestinations) {
    TempDir tmp;
    write_bytes(tmp / "file", "keep");
    Caught c = expect_error([&] { AtomicDir d(tmp / "file"); },
                            {(tmp / "file").string(), "exists and is not a folder"});
    EXPECT_EQ(c.kind, ErrorKind::usage);
    expect_error([&] { AtomicDir d(tmp / "no" / "out"); }, {"parent folder", "does not exist"});
    expect_error([&] { AtomicDir d(tmp / "file" / "out"); }, {(tmp / "file" / "out").string()});
    EXPECT_EQ(read_bytes(tmp / "file"), "keep");
    EXPECT_TRUE(temporaries(tmp.path()).empty());
}

// SIGTERM in the middle of writing a checkpoint folder: the handler removes the temporary folder
// and the temporary file inside it (registered after the folder), and leaves the previous output.
TEST(InterruptCleanup, SignalRemovesTemporaryFilesAndFolders) {
    for (int sig : {SIGTERM, SIGINT}) {
        TempDir tmp;
        const fs::path dest = tmp / "model";
        fs::create_directory(dest);
        write_bytes(dest / "config.json", "previous");
        pid_t pid = fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            install_interrupt_cleanup();
            AtomicDir dir(dest);
            write_file_atomic(dir.path() / "config.json", "new");
            const fs::path partial = dir.path() / ".model.safetensors.fwsvd-tmp-1-0000";
            write_bytes(partial, "half a file");
            register_temp_path(partial);
            raise(sig);
            _exit(0);  // not reached
        }
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == sig) << "status " << status;
        EXPECT_EQ(read_bytes(dest / "config.json"), "previous");
        EXPECT_TRUE(temporaries(tmp.path()).empty())
            << "left behind: "
            << (temporaries(tmp.path()).empty() ? "" : temporaries(tmp.path())[0]);
    }
}

TEST(OutputDistinct, RefusesToOverwriteInputs) {
    TempDir tmp;
    write_bytes(tmp / "data.tsv", "x");
    fs::create_directory(tmp / "model");
    fs::create_symlink(tmp / "data.tsv", tmp / "link.tsv");
    for (const fs::path& out : {tmp / "data.tsv", tmp / "link.tsv", tmp.path(), tmp / "model"}) {
        Caught c = expect_error(
            [&] {
                check_output_distinct(out, {tmp / "model", tmp / "data.tsv"});
            },
            {"refusing to overwrite an input"});
        EXPECT_EQ(c.kind, ErrorKind::usage);
    }
    EXPECT_NO_THROW(check_output_distinct(tmp / "model" / "logits.safetensors",
                                          {tmp / "model", tmp / "data.tsv"}));
    EXPECT_NO_THROW(check_output_distinct(tmp / "other.safetensors", {tmp / "data.tsv", "-"}));
}

}  // namespace
}  // namespace fwsvd::testing
