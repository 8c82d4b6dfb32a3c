/*
 * Kafka primitive types: a bounds-checked reader over a received frame and a growable writer
 * for responses. Big-endian integers, int16-length strings, int32-length bytes and arrays
 * (-1 = null), unsigned varints and the compact (length + 1) forms of flexible versions.
 *
 * Reader contract: errors are sticky. A read past the end, a negative length where none is
 * allowed, or an array count that the remaining bytes cannot hold sets r->err (-EBADMSG) and
 * every later read returns 0 or an empty view, so a decoder reads a whole structure and checks
 * r->err once. Lengths are checked against the bytes remaining before anything is used, so a
 * hostile count never drives an allocation (the caller sizes arrays from zcq_kr_array(), whose
 * result is at most remaining / min_elem). Views (struct zcq_kstr) point into the frame and live
 * as long as it does. No allocation.
 *
 * Writer contract: the writer owns its buffer (malloc'd, grown on demand up to max); a failed
 * growth sets w->err (-ENOMEM, or -EMSGSIZE past max) and later writes are dropped. Free with
 * zcq_kw_free(); take the bytes with w->buf, w->len.
 */
#ifndef ZCQ_PROTO_KBUF_H
#define ZCQ_PROTO_KBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct zcq_kr {
    const uint8_t *p, *end;
    int err;
};

/* A string or bytes view; len -1 is null. */
struct zcq_kstr {
    const char *p;
    int32_t len;
};

static inline void zcq_kr_init(struct zcq_kr *r, const void *buf, size_t len)
{
    r->p = buf;
    r->end = r->p + len;
    r->err = 0;
}

static inline size_t zcq_kr_left(const struct zcq_kr *r)
{
    return r->err ? 0 : (size_t)(r->end - r->p);
}

int8_t zcq_kr_i8(struct zcq_kr *r);
int16_t zcq_kr_i16(struct zcq_kr *r);
int32_t zcq_kr_i32(struct zcq_kr *r);
int64_t zcq_kr_i64(struct zcq_kr *r);
uint32_t zcq_kr_uvarint(struct zcq_kr *r);
bool zcq_kr_bool(struct zcq_kr *r);

/* int16 length; nullable allows -1. */
struct zcq_kstr zcq_kr_str(struct zcq_kr *r);
struct zcq_kstr zcq_kr_nstr(struct zcq_kr *r);
/* int32 length bytes; nullable allows -1. */
struct zcq_kstr zcq_kr_bytes(struct zcq_kr *r);
struct zcq_kstr zcq_kr_nbytes(struct zcq_kr *r);
/* Compact (uvarint length + 1, 0 = null) string, for ApiVersions v3 and tagged fields. */
struct zcq_kstr zcq_kr_cstr(struct zcq_kr *r);

/* An int32 array count: -1 (null) only when nullable; otherwise 0..remaining/min_elem. */
int32_t zcq_kr_array(struct zcq_kr *r, size_t min_elem, bool nullable);

/* Skip tagged fields (flexible versions): a uvarint count of (uvarint tag, uvarint size,
 * bytes). */
void zcq_kr_skip_tags(struct zcq_kr *r);

void zcq_kr_skip(struct zcq_kr *r, size_t n);

struct zcq_kw {
    uint8_t *buf;
    size_t len, cap, max;
    int err;
};

/* max: the largest response this writer may build (0 = no limit). */
void zcq_kw_init(struct zcq_kw *w, size_t max);
void zcq_kw_free(struct zcq_kw *w);
void zcq_kw_reset(struct zcq_kw *w); /* empty, keeping the buffer */

void zcq_kw_i8(struct zcq_kw *w, int8_t v);
void zcq_kw_i16(struct zcq_kw *w, int16_t v);
void zcq_kw_i32(struct zcq_kw *w, int32_t v);
void zcq_kw_i64(struct zcq_kw *w, int64_t v);
void zcq_kw_uvarint(struct zcq_kw *w, uint32_t v);
void zcq_kw_bool(struct zcq_kw *w, bool v);
void zcq_kw_raw(struct zcq_kw *w, const void *p, size_t n);
/* Strings and bytes from a view (len -1 writes null) or a C string (NULL writes null). */
void zcq_kw_str(struct zcq_kw *w, struct zcq_kstr s);
void zcq_kw_cstr(struct zcq_kw *w, const char *s);
void zcq_kw_bytes(struct zcq_kw *w, struct zcq_kstr s);

/* Reserve an int32 to fill in later (a size or a count); returns its position. */
size_t zcq_kw_reserve_i32(struct zcq_kw *w);
void zcq_kw_patch_i32(struct zcq_kw *w, size_t pos, int32_t v);
/* Overwrite a value already written at pos (a result known only later). */
void zcq_kw_patch_i16(struct zcq_kw *w, size_t pos, int16_t v);
void zcq_kw_patch_i64(struct zcq_kw *w, size_t pos, int64_t v);

#endif
