/* Kafka primitive types; see kbuf.h. */
#include "proto/kbuf.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t *take(struct zcq_kr *r, size_t n)
{
    const uint8_t *p = r->p;

    if (r->err || n > (size_t)(r->end - r->p)) {
        r->err = -EBADMSG;
        return NULL;
    }
    r->p += n;
    return p;
}

int8_t zcq_kr_i8(struct zcq_kr *r)
{
    const uint8_t *p = take(r, 1);

    return p ? (int8_t)p[0] : 0;
}

int16_t zcq_kr_i16(struct zcq_kr *r)
{
    const uint8_t *p = take(r, 2);
    uint16_t v;

    if (!p)
        return 0;
    memcpy(&v, p, 2);
    return (int16_t)be16toh(v);
}

int32_t zcq_kr_i32(struct zcq_kr *r)
{
    const uint8_t *p = take(r, 4);
    uint32_t v;

    if (!p)
        return 0;
    memcpy(&v, p, 4);
    return (int32_t)be32toh(v);
}

int64_t zcq_kr_i64(struct zcq_kr *r)
{
    const uint8_t *p = take(r, 8);
    uint64_t v;

    if (!p)
        return 0;
    memcpy(&v, p, 8);
    return (int64_t)be64toh(v);
}

bool zcq_kr_bool(struct zcq_kr *r)
{
    return zcq_kr_i8(r) != 0;
}

uint32_t zcq_kr_uvarint(struct zcq_kr *r)
{
    uint32_t v = 0;

    for (int shift = 0; shift < 35; shift += 7) {
        const uint8_t *p = take(r, 1);

        if (!p)
            return 0;
        v |= (uint32_t)(p[0] & 0x7f) << shift;
        if (!(p[0] & 0x80))
            return v;
    }
    r->err = -EBADMSG; /* more than 5 bytes */
    return 0;
}

static struct zcq_kstr view(struct zcq_kr *r, int64_t len, bool nullable)
{
    struct zcq_kstr s = {NULL, -1};
    const uint8_t *p;

    if (r->err)
        return s;
    if (len < 0) {
        if (len != -1 || !nullable)
            r->err = -EBADMSG;
        return s;
    }
    p = take(r, (size_t)len);
    if (p) {
        s.p = (const char *)p;
        s.len = (int32_t)len;
    }
    return s;
}

struct zcq_kstr zcq_kr_str(struct zcq_kr *r)
{
    return view(r, zcq_kr_i16(r), false);
}

struct zcq_kstr zcq_kr_nstr(struct zcq_kr *r)
{
    return view(r, zcq_kr_i16(r), true);
}

struct zcq_kstr zcq_kr_bytes(struct zcq_kr *r)
{
    return view(r, zcq_kr_i32(r), false);
}

struct zcq_kstr zcq_kr_nbytes(struct zcq_kr *r)
{
    return view(r, zcq_kr_i32(r), true);
}

struct zcq_kstr zcq_kr_cstr(struct zcq_kr *r)
{
    return view(r, (int64_t)zcq_kr_uvarint(r) - 1, true);
}

int32_t zcq_kr_array(struct zcq_kr *r, size_t min_elem, bool nullable)
{
    int32_t n = zcq_kr_i32(r);

    if (r->err)
        return 0;
    if (n == -1 && nullable)
        return -1;
    /* Each element takes at least min_elem bytes, so a count the frame cannot hold is a lie. */
    if (n < 0 || (min_elem && (size_t)n > zcq_kr_left(r) / min_elem)) {
        r->err = -EBADMSG;
        return 0;
    }
    return n;
}

void zcq_kr_skip(struct zcq_kr *r, size_t n)
{
    (void)take(r, n);
}

void zcq_kr_skip_tags(struct zcq_kr *r)
{
    uint32_t n = zcq_kr_uvarint(r);

    for (uint32_t i = 0; i < n && !r->err; i++) {
        (void)zcq_kr_uvarint(r); /* tag */
        zcq_kr_skip(r, zcq_kr_uvarint(r));
    }
}

void zcq_kw_init(struct zcq_kw *w, size_t max)
{
    memset(w, 0, sizeof(*w));
    w->max = max;
}

void zcq_kw_free(struct zcq_kw *w)
{
    free(w->buf);
    memset(w, 0, sizeof(*w));
}

void zcq_kw_reset(struct zcq_kw *w)
{
    w->len = 0;
    w->err = 0;
}

static uint8_t *room(struct zcq_kw *w, size_t n)
{
    if (w->err)
        return NULL;
    if (w->max && (n > w->max || w->len > w->max - n)) {
        w->err = -EMSGSIZE;
        return NULL;
    }
    if (n > w->cap - w->len) {
        size_t cap = w->cap ? w->cap : 256;
        uint8_t *nb;

        while (cap - w->len < n) {
            if (cap > SIZE_MAX / 2) {
                w->err = -ENOMEM;
                return NULL;
            }
            cap *= 2;
        }
        nb = realloc(w->buf, cap);
        if (!nb) {
            w->err = -ENOMEM;
            return NULL;
        }
        w->buf = nb;
        w->cap = cap;
    }
    w->len += n;
    return w->buf + w->len - n;
}

void zcq_kw_raw(struct zcq_kw *w, const void *p, size_t n)
{
    uint8_t *d = room(w, n);

    if (d && n)
        memcpy(d, p, n);
}

void zcq_kw_i8(struct zcq_kw *w, int8_t v)
{
    zcq_kw_raw(w, &v, 1);
}

void zcq_kw_i16(struct zcq_kw *w, int16_t v)
{
    uint16_t b = htobe16((uint16_t)v);

    zcq_kw_raw(w, &b, 2);
}

void zcq_kw_i32(struct zcq_kw *w, int32_t v)
{
    uint32_t b = htobe32((uint32_t)v);

    zcq_kw_raw(w, &b, 4);
}

void zcq_kw_i64(struct zcq_kw *w, int64_t v)
{
    uint64_t b = htobe64((uint64_t)v);

    zcq_kw_raw(w, &b, 8);
}

void zcq_kw_bool(struct zcq_kw *w, bool v)
{
    zcq_kw_i8(w, v ? 1 : 0);
}

void zcq_kw_uvarint(struct zcq_kw *w, uint32_t v)
{
    uint8_t b[5];
    size_t n = 0;

    while (v >= 0x80) {
        b[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    b[n++] = (uint8_t)v;
    zcq_kw_raw(w, b, n);
}

void zcq_kw_str(struct zcq_kw *w, struct zcq_kstr s)
{
    if (s.len < 0 || !s.p) {
        zcq_kw_i16(w, -1);
        return;
    }
    if (s.len > INT16_MAX) {
        w->err = -EMSGSIZE;
        return;
    }
    zcq_kw_i16(w, (int16_t)s.len);
    zcq_kw_raw(w, s.p, (size_t)s.len);
}

void zcq_kw_cstr(struct zcq_kw *w, const char *s)
{
    struct zcq_kstr v = {s, s ? (int32_t)strlen(s) : -1};

    zcq_kw_str(w, v);
}

void zcq_kw_bytes(struct zcq_kw *w, struct zcq_kstr s)
{
    if (s.len < 0 || !s.p) {
        zcq_kw_i32(w, -1);
        return;
    }
    zcq_kw_i32(w, s.len);
    zcq_kw_raw(w, s.p, (size_t)s.len);
}

size_t zcq_kw_reserve_i32(struct zcq_kw *w)
{
    size_t at = w->len;

    zcq_kw_i32(w, 0);
    return at;
}

void zcq_kw_patch_i32(struct zcq_kw *w, size_t pos, int32_t v)
{
    uint32_t b = htobe32((uint32_t)v);

    if (!w->err && pos + 4 <= w->len)
        memcpy(w->buf + pos, &b, 4);
}

void zcq_kw_patch_i16(struct zcq_kw *w, size_t pos, int16_t v)
{
    uint16_t b = htobe16((uint16_t)v);

    if (!w->err && pos + 2 <= w->len)
        memcpy(w->buf + pos, &b, 2);
}

void zcq_kw_patch_i64(struct zcq_kw *w, size_t pos, int64_t v)
{
    uint64_t b = htobe64((uint64_t)v);

    if (!w->err && pos + 8 <= w->len)
        memcpy(w->buf + pos, &b, 8);
}
