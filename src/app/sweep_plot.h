// A PNG line chart of a sweep (`kuai cache eval --plot FILE.png`): x = the swept setting, y = 0..100%,
// one coloured line per series, grid lines every 25% with their values, x ticks with theirs (a 3x5
// digit font: the chart needs no font files). The PNG is written without compression (stored deflate
// blocks, CRC-32 and Adler-32 computed here): a few hundred KB, no library.
// Pure; any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace kuai::app {

struct PlotSeries {
  std::array<uint8_t, 3> rgb;
  std::vector<double> y;  // percent (0..100), one per x
};

struct Chart {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;  // width * height * 3
  std::array<uint8_t, 3> at(int x, int y) const {
    const size_t i = (size_t(y) * size_t(width) + size_t(x)) * 3;
    return {rgb[i], rgb[i + 1], rgb[i + 2]};
  }
};

// The chart itself (what the PNG shows); also where a test reads pixels.
Chart draw_sweep(const std::vector<double>& x, const std::vector<PlotSeries>& series, int width = 640, int height = 400);
// The chart's pixel position of data point (x_value, y_percent), as draw_sweep places it.
std::array<int, 2> sweep_point(const std::vector<double>& x, double x_value, double y_percent, int width = 640,
                               int height = 400);

// An RGB image as PNG bytes (8-bit, no interlace, stored deflate).
std::string encode_png(const Chart& chart);

}  // namespace kuai::app
