/* The MIME table. Text types carry charset=utf-8 (a static file has no other way to say its charset, and
 * UTF-8 is what the web assumes); JavaScript is text/javascript (RFC 9239); JSON has no charset parameter
 * (RFC 8259 section 11). Sorted by extension for a binary search. */
#include "static/mime.h"

#include <string.h>
#include <strings.h>

#define CT(t) "content-type: " t "\r\n"
#define TEXT(t) CT(t "; charset=utf-8")

static const struct ua_mime TABLE[] = {
    {"3gp", CT("video/3gpp"), 0},
    {"7z", CT("application/x-7z-compressed"), 0},
    {"aac", CT("audio/aac"), 0},
    {"ai", CT("application/postscript"), 1},
    {"apng", CT("image/apng"), 0},
    {"atom", CT("application/atom+xml"), 1},
    {"avi", CT("video/x-msvideo"), 0},
    {"avif", CT("image/avif"), 0},
    {"bmp", CT("image/bmp"), 1},
    {"cjs", TEXT("text/javascript"), 1},
    {"crt", CT("application/x-x509-ca-cert"), 1},
    {"css", TEXT("text/css"), 1},
    {"csv", TEXT("text/csv"), 1},
    {"der", CT("application/x-x509-ca-cert"), 0},
    {"doc", CT("application/msword"), 1},
    {"docx", CT("application/vnd.openxmlformats-officedocument.wordprocessingml.document"), 0},
    {"eot", CT("application/vnd.ms-fontobject"), 1},
    {"eps", CT("application/postscript"), 1},
    {"epub", CT("application/epub+zip"), 0},
    {"flac", CT("audio/flac"), 0},
    {"flv", CT("video/x-flv"), 0},
    {"gif", CT("image/gif"), 0},
    {"gz", CT("application/gzip"), 0},
    {"htm", TEXT("text/html"), 1},
    {"html", TEXT("text/html"), 1},
    {"ico", CT("image/vnd.microsoft.icon"), 1},
    {"ics", TEXT("text/calendar"), 1},
    {"jar", CT("application/java-archive"), 0},
    {"jpeg", CT("image/jpeg"), 0},
    {"jpg", CT("image/jpeg"), 0},
    {"js", TEXT("text/javascript"), 1},
    {"json", CT("application/json"), 1},
    {"jsonld", CT("application/ld+json"), 1},
    {"kml", CT("application/vnd.google-earth.kml+xml"), 1},
    {"kmz", CT("application/vnd.google-earth.kmz"), 0},
    {"m3u8", CT("application/vnd.apple.mpegurl"), 1},
    {"m4a", CT("audio/mp4"), 0},
    {"m4v", CT("video/x-m4v"), 0},
    {"manifest", CT("application/manifest+json"), 1},
    {"map", CT("application/json"), 1},
    {"md", TEXT("text/markdown"), 1},
    {"mid", CT("audio/midi"), 0},
    {"midi", CT("audio/midi"), 0},
    {"mjs", TEXT("text/javascript"), 1},
    {"mov", CT("video/quicktime"), 0},
    {"mp3", CT("audio/mpeg"), 0},
    {"mp4", CT("video/mp4"), 0},
    {"mpeg", CT("video/mpeg"), 0},
    {"oga", CT("audio/ogg"), 0},
    {"ogg", CT("audio/ogg"), 0},
    {"ogv", CT("video/ogg"), 0},
    {"otf", CT("font/otf"), 1},
    {"pdf", CT("application/pdf"), 0},
    {"pem", CT("application/x-x509-ca-cert"), 1},
    {"png", CT("image/png"), 0},
    {"ppt", CT("application/vnd.ms-powerpoint"), 1},
    {"pptx", CT("application/vnd.openxmlformats-officedocument.presentationml.presentation"), 0},
    {"ps", CT("application/postscript"), 1},
    {"rar", CT("application/x-rar-compressed"), 0},
    {"rss", CT("application/rss+xml"), 1},
    {"rtf", CT("application/rtf"), 1},
    {"svg", CT("image/svg+xml"), 1},
    {"tar", CT("application/x-tar"), 1},
    {"tif", CT("image/tiff"), 0},
    {"tiff", CT("image/tiff"), 0},
    {"toml", TEXT("text/plain"), 1},
    {"ts", CT("video/mp2t"), 0},
    {"ttf", CT("font/ttf"), 1},
    {"txt", TEXT("text/plain"), 1},
    {"wasm", CT("application/wasm"), 1},
    {"wav", CT("audio/wav"), 0},
    {"weba", CT("audio/webm"), 0},
    {"webm", CT("video/webm"), 0},
    {"webmanifest", CT("application/manifest+json"), 1},
    {"webp", CT("image/webp"), 0},
    {"wmv", CT("video/x-ms-wmv"), 0},
    {"woff", CT("font/woff"), 0},
    {"woff2", CT("font/woff2"), 0},
    {"xhtml", CT("application/xhtml+xml"), 1},
    {"xls", CT("application/vnd.ms-excel"), 1},
    {"xlsx", CT("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"), 0},
    {"xml", CT("application/xml"), 1},
    {"yaml", TEXT("text/yaml"), 1},
    {"yml", TEXT("text/yaml"), 1},
    {"zip", CT("application/zip"), 0},
};

static const struct ua_mime OCTET = {"", CT("application/octet-stream"), 0};

const struct ua_mime *ua_static_mime(const char *name, uint32_t len)
{
    uint32_t dot = len;
    while (dot > 0 && name[dot - 1] != '.' && name[dot - 1] != '/')
        dot--;
    if (dot == 0 || name[dot - 1] != '.' || len - dot > 15)
        return &OCTET;
    char ext[16];
    uint32_t n = len - dot;
    memcpy(ext, name + dot, n);
    ext[n] = 0;
    size_t lo = 0, hi = sizeof(TABLE) / sizeof(TABLE[0]);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcasecmp(ext, TABLE[mid].ext);
        if (c == 0)
            return &TABLE[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return &OCTET;
}
