// fwsvd: run, evaluate, measure and compress BERT classifiers on CPU.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "runtime/atomic_file.h"
#include "runtime/dist.h"
#include "runtime/version.h"
#include "tools/cli_common.h"
#include "tools/compressor_commands.h"

namespace {

// MPI runs from the first line of main to the last (MPI_Finalize on every return path).
struct Distributed {
    Distributed(int* argc, char*** argv) { fwsvd::start_distributed(argc, argv); }
    ~Distributed() { fwsvd::stop_distributed(); }
};

std::string version_text() {
    const std::string lib = fwsvd::distributed_library();
    return std::string(fwsvd::version()) +
           (lib.empty() ? " (built without MPI: one process)" : " (MPI: " + lib + ")");
}

}  // namespace

int main(int argc, char** argv) {
    Distributed dist(&argc, &argv);
    fwsvd::Comm& comm = fwsvd::world_comm();
    // Only rank 0 draws progress bars (and prints results: see the commands).
    if (comm.rank() != 0) setenv("FWSVD_NO_PROGRESS", "1", 1);
    fwsvd::install_interrupt_cleanup();
    CLI::App app{
        "fwsvd: Fisher-weighted SVD compression and fast CPU inference for BERT "
        "classifiers"};
    app.set_version_flag("--version", version_text());
    app.require_subcommand(1);
    app.fallthrough(false);
    fwsvd::cli::set_error_format(&app);
    CLI::App* run = app.add_subcommand("run", "Classify texts, pairs or a data file (JSON lines)");
    fwsvd::cli::setup_run(run);
    fwsvd::cli::setup_eval(&app);
    fwsvd::cli::setup_bench(&app);
    fwsvd::cli::setup_compress(&app);
    fwsvd::cli::setup_inspect(&app);
    fwsvd::cli::setup_stats(&app);
    fwsvd::cli::setup_fisher(&app);
    fwsvd::cli::setup_finetune(&app);
    fwsvd::cli::setup_init(&app);
    if (comm.distributed()) {
        // The other commands would each write the same outputs from every rank.
        for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
            const std::string name = sub->get_name();
            if (name == "stats" || name == "fisher" || name == "finetune" || name == "eval") {
                continue;
            }
            sub->preparse_callback([name, &comm](size_t) {
                if (comm.rank() == 0) {
                    std::fprintf(stderr,
                                 "fwsvd: error: fwsvd %s runs in one process: run it without "
                                 "mpirun (stats, fisher, finetune and eval run over several)\n",
                                 name.c_str());
                }
                throw CLI::RuntimeError(2);
            });
        }
    }
    try {
        app.parse(argc, argv);
    } catch (const CLI::RuntimeError& e) {
        return e.get_exit_code();
    } catch (const CLI::ParseError& e) {
        // Every rank parses the same arguments: one of them says what is wrong.
        int code = comm.rank() == 0 ? app.exit(e) : e.get_exit_code();
        return code == 0 ? 0 : 2;
    }
    return 0;
}
