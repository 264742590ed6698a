// The compression commands of the fwsvd tool. Declared apart from cli_common.h because
// `compress` links the compressor (Eigen, Fisher) and fwsvd-run must link none of it.
#pragma once
#include <CLI/CLI.hpp>

namespace fwsvd::cli {

// Registers `compress` (tools/cmd_compress.cc, library fwsvd_compressor_cli).
void setup_compress(CLI::App* app);
// Registers `inspect` (tools/cmd_inspect.cc). It reads files only and lives in fwsvd_cli, so
// fwsvd-run could register it too without linking compressor code.
void setup_inspect(CLI::App* app);
// Registers `fisher` (tools/cmd_fisher.cc).
void setup_fisher(CLI::App* app);
// Registers `finetune` (tools/cmd_finetune.cc).
void setup_finetune(CLI::App* app);
// Registers `init` (tools/cmd_init.cc): a randomly initialised checkpoint.
void setup_init(CLI::App* app);

}  // namespace fwsvd::cli
