// fwsvd-run: the inference binary. Same options and output as `fwsvd run`; links only the
// kernels, runtime and models (no compressor, no Eigen).
#include <CLI/CLI.hpp>

#include "runtime/version.h"
#include "tools/cli_common.h"

int main(int argc, char** argv) {
    CLI::App app{
        "fwsvd-run: classify texts with a BERT checkpoint (dense or factored); one JSON "
        "line per input"};
    app.set_version_flag("--version", fwsvd::version());
    fwsvd::cli::set_error_format(&app);
    fwsvd::cli::setup_run(&app);
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
