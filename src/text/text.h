// kuai_text: the small, stable text API for English and Chinese used by stages, cache and router.
//   segment / segment_words  — ICU word boundaries, dictionary words for Chinese (segment.h)
//   normalize                — NFKC + case fold (normalize.h)
//   is_cjk / has_cjk         — script detection (script.h)
//   estimate_tokens          — the documented per-script token estimate (estimate.h)
//   utf8_*                   — decoding, repair, safe cutting (utf8.h)
#pragma once

#include "text/estimate.h"
#include "text/normalize.h"
#include "text/script.h"
#include "text/segment.h"
#include "text/utf8.h"
