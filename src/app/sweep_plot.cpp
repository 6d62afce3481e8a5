#include "app/sweep_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace kuai::app {

namespace {

constexpr int kLeft = 48, kRight = 16, kTop = 16, kBottom = 36;  // margins around the plot area
constexpr int kScale = 2;                                          // font pixels per glyph pixel

// 3x5 glyphs, one row per 3 bits (top row first): digits, '.', '%'.
struct Glyph {
  char c;
  uint16_t rows[5];
};
constexpr Glyph kGlyphs[] = {
    {'0', {7, 5, 5, 5, 7}}, {'1', {2, 6, 2, 2, 7}}, {'2', {7, 1, 7, 4, 7}}, {'3', {7, 1, 7, 1, 7}},
    {'4', {5, 5, 7, 1, 1}}, {'5', {7, 4, 7, 1, 7}}, {'6', {7, 4, 7, 5, 7}}, {'7', {7, 1, 1, 1, 1}},
    {'8', {7, 5, 7, 5, 7}}, {'9', {7, 5, 7, 1, 7}}, {'.', {0, 0, 0, 0, 2}}, {'%', {5, 1, 2, 4, 5}}};

struct Canvas {
  Chart& c;
  void set(int x, int y, std::array<uint8_t, 3> rgb) {
    if (x < 0 || y < 0 || x >= c.width || y >= c.height) return;
    const size_t i = (size_t(y) * size_t(c.width) + size_t(x)) * 3;
    c.rgb[i] = rgb[0], c.rgb[i + 1] = rgb[1], c.rgb[i + 2] = rgb[2];
  }
  // A line 3 pixels thick (Bresenham, with its neighbours).
  void line(int x0, int y0, int x1, int y1, std::array<uint8_t, 3> rgb, int thick = 1) {
    const int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0), sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    for (;;) {
      for (int a = -thick / 2; a <= thick / 2; ++a)
        for (int b = -thick / 2; b <= thick / 2; ++b) set(x0 + a, y0 + b, rgb);
      if (x0 == x1 && y0 == y1) break;
      const int e2 = 2 * err;
      if (e2 >= dy) err += dy, x0 += sx;
      if (e2 <= dx) err += dx, y0 += sy;
    }
  }
  // Text whose top-left corner is (x, y); unknown characters are blank.
  void text(int x, int y, const std::string& s, std::array<uint8_t, 3> rgb) {
    for (char ch : s) {
      for (const Glyph& g : kGlyphs) {
        if (g.c != ch) continue;
        for (int r = 0; r < 5; ++r)
          for (int col = 0; col < 3; ++col)
            if ((g.rows[r] >> (2 - col)) & 1)
              for (int a = 0; a < kScale; ++a)
                for (int b = 0; b < kScale; ++b) set(x + col * kScale + a, y + r * kScale + b, rgb);
      }
      x += 4 * kScale;
    }
  }
};

std::string fmt(const char* f, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

uint32_t crc32(const uint8_t* p, size_t n, uint32_t crc = 0) {
  static const auto table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t i = 0; i < 256; ++i) {
      uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  crc = ~crc;
  for (size_t i = 0; i < n; ++i) crc = table[(crc ^ p[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

void put32(std::string& out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out += char((v >> s) & 0xFF);
}

void chunk(std::string& out, const char* type, const std::string& data) {
  put32(out, uint32_t(data.size()));
  std::string body = std::string(type, 4) + data;
  out += body;
  put32(out, crc32(reinterpret_cast<const uint8_t*>(body.data()), body.size()));
}

}  // namespace

std::array<int, 2> sweep_point(const std::vector<double>& x, double x_value, double y_percent, int width, int height) {
  const double x0 = x.empty() ? 0 : x.front(), x1 = x.empty() ? 1 : x.back();
  const int pw = width - kLeft - kRight, ph = height - kTop - kBottom;
  const double fx = x1 > x0 ? (x_value - x0) / (x1 - x0) : 0.5;
  const double fy = std::clamp(y_percent, 0.0, 100.0) / 100.0;
  return {kLeft + int(std::lround(fx * pw)), kTop + ph - int(std::lround(fy * ph))};
}

Chart draw_sweep(const std::vector<double>& x, const std::vector<PlotSeries>& series, int width, int height) {
  Chart chart{width, height, std::vector<uint8_t>(size_t(width) * size_t(height) * 3, 255)};
  Canvas cv{chart};
  const std::array<uint8_t, 3> grid{220, 220, 220}, axis{60, 60, 60};
  const int right = width - kRight, bottom = height - kBottom;
  for (int pct = 0; pct <= 100; pct += 25) {
    const int y = sweep_point(x, 0, pct, width, height)[1];
    cv.line(kLeft, y, right, y, pct == 0 ? axis : grid);
    cv.text(4, y - 5, std::to_string(pct) + "%", axis);
  }
  cv.line(kLeft, kTop, kLeft, bottom, axis);
  for (double xv : x) {
    const int px = sweep_point(x, xv, 0, width, height)[0];
    cv.line(px, bottom, px, bottom + 4, axis);
    const std::string label = fmt("%.2f", xv);
    const int w = int(label.size()) * 4 * kScale;  // centred under its tick, inside the image
    cv.text(std::clamp(px - w / 2, 0, width - w), bottom + 8, label, axis);
  }
  for (const PlotSeries& s : series)
    for (size_t i = 0; i + 1 < std::min(s.y.size(), x.size()); ++i) {
      const auto a = sweep_point(x, x[i], s.y[i], width, height), b = sweep_point(x, x[i + 1], s.y[i + 1], width, height);
      cv.line(a[0], a[1], b[0], b[1], s.rgb, 3);
    }
  return chart;
}

std::string encode_png(const Chart& chart) {
  // Scanlines, each led by filter type 0 (none).
  std::string raw;
  raw.reserve(size_t(chart.height) * (size_t(chart.width) * 3 + 1));
  for (int y = 0; y < chart.height; ++y) {
    raw += '\0';
    raw.append(reinterpret_cast<const char*>(chart.rgb.data()) + size_t(y) * size_t(chart.width) * 3, size_t(chart.width) * 3);
  }
  // zlib stream of stored deflate blocks (at most 65 535 bytes each), then Adler-32 of the data.
  std::string z = "\x78\x01";
  for (size_t at = 0;;) {
    const size_t n = std::min<size_t>(65535, raw.size() - at);
    const bool last = at + n >= raw.size();
    z += char(last ? 1 : 0);
    z += char(n & 0xFF), z += char(n >> 8);
    z += char(~n & 0xFF), z += char((~n >> 8) & 0xFF);
    z.append(raw, at, n);
    at += n;
    if (last) break;
  }
  uint32_t a = 1, b = 0;
  for (unsigned char c : raw) a = (a + c) % 65521, b = (b + a) % 65521;
  put32(z, (b << 16) | a);
  std::string png = "\x89PNG\r\n\x1a\n";
  std::string ihdr;
  put32(ihdr, uint32_t(chart.width));
  put32(ihdr, uint32_t(chart.height));
  ihdr += std::string("\x08\x02\x00\x00\x00", 5);  // 8-bit, RGB, deflate, adaptive filters, no interlace
  chunk(png, "IHDR", ihdr);
  chunk(png, "IDAT", z);
  chunk(png, "IEND", "");
  return png;
}

}  // namespace kuai::app
