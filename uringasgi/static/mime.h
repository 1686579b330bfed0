/* Content types by file extension; internal to the static area. */
#ifndef UA_STATIC_MIME_H
#define UA_STATIC_MIME_H

#include <stdint.h>

struct ua_mime {
    const char *ext;
    const char *line;     /* the whole "content-type: ...\r\n" line */
    uint8_t compressible; /* worth brotli on the fly */
};

/* The type of a file name (its last extension, without case); application/octet-stream when unknown. */
const struct ua_mime *ua_static_mime(const char *name, uint32_t len);

#endif
