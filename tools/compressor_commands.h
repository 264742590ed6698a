// The compression commands of the fwsvd tool. Declared apart from cli_common.h because
// `compress` links the compressor (Eigen, Fisher) and fwsvd-run must link none of it.
#pragma once
#include <CLI/CLI.hpp>
#include <string>

namespace fwsvd::cli {

// Registers `compress` (tools/cmd_compress.cc, library fwsvd_compressor_cli).
void setup_compress(CLI::App* app);
// Registers `inspect` (tools/cmd_inspect.cc). It reads files only and lives in fwsvd_cli, so
// fwsvd-run could register it too without linking compressor code.
void setup_inspect(CLI::App* app);
// Registers `stats` and its Fisher-only form `fisher` (tools/cmd_stats.cc).
void setup_stats(CLI::App* app);
void setup_fisher(CLI::App* app);
// The StatKind bits of "fisher,input-mean,input-cov" (--stats); Error(usage) otherwise.
unsigned parse_stat_kinds(const std::string& list);
// Registers `finetune` (tools/cmd_finetune.cc).
void setup_finetune(CLI::App* app);
// Registers `init` (tools/cmd_init.cc): a randomly initialised checkpoint.
void setup_init(CLI::App* app);

}  // namespace fwsvd::cli
