// A one-line progress bar on stderr, drawn only when stderr is a terminal (so logs and pipes stay
// clean). Callable as a std::function<void(double fraction)>; redraws at most every 1% step.
#pragma once

#include <string>

namespace kuai::tools {

class ProgressBar {
 public:
  explicit ProgressBar(std::string label);
  ~ProgressBar();  // ends the line if anything was drawn
  void operator()(double fraction);

 private:
  std::string label_;
  bool tty_;
  int last_ = -1;
};

}  // namespace kuai::tools
