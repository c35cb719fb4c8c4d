#ifndef CCMARKGFM_SHIM_H
#define CCMARKGFM_SHIM_H
// GitHub's Markdown renderer (Debian: libcmark-gfm-dev, libcmark-gfm-extensions-dev), used only by
// Pipeline/Text/Markdown.swift.
#include <cmark-gfm.h>
#include <cmark-gfm-core-extensions.h>

// The option bits are macros; Swift sees them as these functions.
static inline int ccmark_opt_default(void) { return CMARK_OPT_DEFAULT; }
static inline int ccmark_opt_validate_utf8(void) { return CMARK_OPT_VALIDATE_UTF8; }
static inline int ccmark_opt_github_pre_lang(void) { return CMARK_OPT_GITHUB_PRE_LANG; }
#endif
