// The sweep chart of `kuai cache eval --plot`: the PNG is well formed (signature, chunk CRCs, a zlib
// stream of stored blocks whose Adler-32 matches, scanlines of the chart's size) and the chart draws each
// series through its data points.
#include "app/sweep_plot.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

namespace kuai::app {
namespace {

uint32_t be32(const std::string& s, size_t at) {
  return uint32_t(uint8_t(s[at])) << 24 | uint32_t(uint8_t(s[at + 1])) << 16 | uint32_t(uint8_t(s[at + 2])) << 8 |
         uint32_t(uint8_t(s[at + 3]));
}

uint32_t crc32_of(const std::string& s) {
  uint32_t crc = ~0u;
  for (unsigned char c : s) {
    crc ^= c;
    for (int k = 0; k < 8; ++k) crc = crc & 1 ? 0xEDB88320u ^ (crc >> 1) : crc >> 1;
  }
  return ~crc;
}

TEST(SweepPlot, PngIsWellFormedAndHoldsTheChart) {
  const std::vector<double> x{0.4, 0.5, 0.6, 0.7};
  const Chart chart = draw_sweep(x, {PlotSeries{{30, 100, 200}, {40, 30, 20, 10}}}, 200, 120);
  const std::string png = encode_png(chart);
  ASSERT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8));
  std::string idat;
  size_t at = 8;
  std::vector<std::string> types;
  while (at + 12 <= png.size()) {
    const uint32_t n = be32(png, at);
    const std::string type = png.substr(at + 4, 4), data = png.substr(at + 8, n);
    EXPECT_EQ(be32(png, at + 8 + n), crc32_of(type + data)) << type;
    if (type == "IHDR") {
      EXPECT_EQ(be32(data, 0), 200u);
      EXPECT_EQ(be32(data, 4), 120u);
    }
    if (type == "IDAT") idat += data;
    types.push_back(type);
    at += 12 + n;
  }
  EXPECT_EQ(at, png.size());
  EXPECT_EQ(types, (std::vector<std::string>{"IHDR", "IDAT", "IEND"}));
  // zlib header, stored blocks, Adler-32 of what they hold.
  ASSERT_GE(idat.size(), 6u);
  std::string raw;
  size_t p = 2;
  for (bool last = false; !last;) {
    last = idat[p] & 1;
    const size_t len = uint8_t(idat[p + 1]) | size_t(uint8_t(idat[p + 2])) << 8;
    const size_t nlen = uint8_t(idat[p + 3]) | size_t(uint8_t(idat[p + 4])) << 8;
    ASSERT_EQ(len ^ 0xFFFF, nlen);
    raw += idat.substr(p + 5, len);
    p += 5 + len;
  }
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) a = (a + c) % 65521, b = (b + a) % 65521;
  EXPECT_EQ(be32(idat, p), (b << 16) | a);
  EXPECT_EQ(raw.size(), size_t(120) * (200 * 3 + 1));
  // The line passes through its points.
  for (size_t i = 0; i < x.size(); ++i) {
    const auto pt = sweep_point(x, x[i], 40.0 - 10.0 * double(i), 200, 120);
    EXPECT_EQ(chart.at(pt[0], pt[1]), (std::array<uint8_t, 3>{30, 100, 200})) << "point " << i;
  }
}

}  // namespace
}  // namespace kuai::app
