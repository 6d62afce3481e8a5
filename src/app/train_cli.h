// What `kuai train` and `kuai distill` share: the optimisation options, progress reporting (a status
// line on a terminal, a JSON line every --log-every steps otherwise), SIGINT/SIGTERM (checkpoint, then
// stop) and the checks done before any work (output writable).
#pragma once

#include <CLI/CLI.hpp>

#include <atomic>
#include <string>

#include "train/trainer.h"

namespace kuai::app {

struct TrainCli {
  train::TrainOptions opt;
  std::string output;
  int threads = 2;
  int log_every = 10;
};

void add_train_options(CLI::App* cmd, TrainCli& a);

// Prints progress for `verb` (see above).
train::StepCallback progress_printer(const std::string& verb, int log_every);

// Installs SIGINT/SIGTERM handlers that set the returned flag (the trainer then writes its checkpoint
// and stops).
const std::atomic<bool>* install_stop_signals();

// The hint for an error of train::train / train::distill: how to keep or resume progress when the run
// stopped (signal, non-finite loss), else where the options are described.
std::string train_error_hint(const std::string& verb, const std::string& message, const train::TrainOptions& o);

// "" when `path` can be written (its folder exists and is writable), else the reason.
std::string output_problem(const std::string& path);

}  // namespace kuai::app
