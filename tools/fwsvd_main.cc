// fwsvd: run, evaluate, measure and compress BERT classifiers on CPU.
#include <CLI/CLI.hpp>

#include "runtime/atomic_file.h"
#include "runtime/version.h"
#include "tools/cli_common.h"
#include "tools/compressor_commands.h"

int main(int argc, char** argv) {
    fwsvd::install_interrupt_cleanup();
    CLI::App app{
        "fwsvd: Fisher-weighted SVD compression and fast CPU inference for BERT "
        "classifiers"};
    app.set_version_flag("--version", fwsvd::version());
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
    try {
        app.parse(argc, argv);
    } catch (const CLI::RuntimeError& e) {
        return e.get_exit_code();
    } catch (const CLI::ParseError& e) {
        int code = app.exit(e);
        return code == 0 ? 0 : 2;
    }
    return 0;
}
