#include "tools/progress_bar.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace kuai::tools {

ProgressBar::ProgressBar(std::string label) : label_(std::move(label)), tty_(::isatty(STDERR_FILENO) == 1) {}

ProgressBar::~ProgressBar() {
  if (tty_ && last_ >= 0) std::fputc('\n', stderr);
}

void ProgressBar::operator()(double fraction) {
  if (!tty_) return;
  const int pct = std::clamp(int(fraction * 100.0), 0, 100);
  if (pct == last_) return;
  last_ = pct;
  const int width = 40, filled = pct * width / 100;
  std::fprintf(stderr, "\r%s [%.*s%*s] %3d%%", label_.c_str(), filled, "########################################",
               width - filled, "", pct);
  std::fflush(stderr);
}

}  // namespace kuai::tools
