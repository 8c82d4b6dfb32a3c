/* CRC-32C; see crc32c.h. */
#include "store/crc32c.h"

#include <endian.h>
#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

#define POLY 0x82f63b78u /* 0x1EDC6F41 bit-reversed: the CRC is computed LSB first */

/* Slicing-by-8: sw[k][n] is the CRC register after byte n followed by k zero bytes, so eight
 * lookups advance the register by a whole 64-bit word. */
static uint32_t sw[8][256];

#if defined(__x86_64__)
/* The crc32 instruction has a latency of 3 cycles but issues once a cycle, so the hardware
 * path runs three independent streams over adjacent blocks and then merges them. Merging
 * shifts a CRC register over a block of zeros, a linear map applied here one byte of the
 * register at a time through a 4 x 256 table per block size. */
#define LONG_BLOCK  8192
#define SHORT_BLOCK 256
static uint32_t zeros_long[4][256];
static uint32_t zeros_short[4][256];
static int use_hw;
#endif

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

#if defined(__x86_64__)
/* Multiply the 32 x 32 GF(2) matrix mat by the vector vec. */
static uint32_t gf2_times(const uint32_t *mat, uint32_t vec)
{
    uint32_t sum = 0;

    for (; vec; vec >>= 1, mat++)
        if (vec & 1)
            sum ^= *mat;
    return sum;
}

static void gf2_square(uint32_t *square, const uint32_t *mat)
{
    for (int n = 0; n < 32; n++)
        square[n] = gf2_times(mat, mat[n]);
}

/* The operator that feeds len zero bytes (a power of two) through the CRC register. */
static void zeros_op(uint32_t *even, size_t len)
{
    uint32_t odd[32];
    uint32_t row = 1;

    /* One zero bit; squared twice that is four zero bits, and each further squaring doubles
     * it, the first of them giving one byte. */
    odd[0] = POLY;
    for (int n = 1; n < 32; n++, row <<= 1)
        odd[n] = row;
    gf2_square(even, odd);
    gf2_square(odd, even);
    for (;;) {
        gf2_square(even, odd);
        len >>= 1;
        if (!len)
            return;
        gf2_square(odd, even);
        len >>= 1;
        if (!len)
            break;
    }
    memcpy(even, odd, sizeof(odd));
}

static void zeros_table(uint32_t zeros[4][256], size_t len)
{
    uint32_t op[32];

    zeros_op(op, len);
    for (uint32_t n = 0; n < 256; n++) {
        zeros[0][n] = gf2_times(op, n);
        zeros[1][n] = gf2_times(op, n << 8);
        zeros[2][n] = gf2_times(op, n << 16);
        zeros[3][n] = gf2_times(op, n << 24);
    }
}

static uint32_t shift(uint32_t zeros[4][256], uint32_t crc)
{
    return zeros[0][crc & 0xff] ^ zeros[1][(crc >> 8) & 0xff] ^ zeros[2][(crc >> 16) & 0xff] ^
           zeros[3][crc >> 24];
}
#endif

static void init(void)
{
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;

        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ POLY : c >> 1;
        sw[0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int k = 1; k < 8; k++)
            sw[k][n] = (sw[k - 1][n] >> 8) ^ sw[0][sw[k - 1][n] & 0xff];
#if defined(__x86_64__)
    zeros_table(zeros_long, LONG_BLOCK);
    zeros_table(zeros_short, SHORT_BLOCK);
    __builtin_cpu_init(); /* init may run from a constructor, before libgcc's own */
    use_hw = __builtin_cpu_supports("sse4.2") != 0;
#endif
}

static uint32_t sw_update(uint32_t crc, const unsigned char *p, size_t len)
{
    while (len && ((uintptr_t)p & 7)) {
        crc = sw[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
        len--;
    }
    for (; len >= 8; p += 8, len -= 8) {
        uint64_t w;

        memcpy(&w, p, 8);
        w = le64toh(w) ^ crc;
        crc = sw[7][w & 0xff] ^ sw[6][(w >> 8) & 0xff] ^ sw[5][(w >> 16) & 0xff] ^
              sw[4][(w >> 24) & 0xff] ^ sw[3][(w >> 32) & 0xff] ^ sw[2][(w >> 40) & 0xff] ^
              sw[1][(w >> 48) & 0xff] ^ sw[0][w >> 56];
    }
    while (len--)
        crc = sw[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return crc;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static inline uint64_t hw_word(uint64_t crc,
                                                                 const unsigned char *p)
{
    uint64_t w;

    memcpy(&w, p, 8);
    return _mm_crc32_u64(crc, w);
}

/* Three streams over adjacent blocks of size block; returns the merged register. */
__attribute__((target("sse4.2"))) static uint64_t hw_triple(uint64_t crc0, const unsigned char **pp,
                                                            size_t *lenp, size_t block,
                                                            uint32_t zeros[4][256])
{
    const unsigned char *p = *pp;
    size_t len = *lenp;

    while (len >= 3 * block) {
        const unsigned char *end = p + block;
        uint64_t crc1 = 0, crc2 = 0;

        do {
            crc0 = hw_word(crc0, p);
            crc1 = hw_word(crc1, p + block);
            crc2 = hw_word(crc2, p + 2 * block);
            p += 8;
        } while (p < end);
        crc0 = shift(zeros, (uint32_t)crc0) ^ crc1;
        crc0 = shift(zeros, (uint32_t)crc0) ^ crc2;
        p += 2 * block;
        len -= 3 * block;
    }
    *pp = p;
    *lenp = len;
    return crc0;
}

__attribute__((target("sse4.2"))) static uint32_t hw_update(uint32_t crc, const unsigned char *p,
                                                            size_t len)
{
    uint64_t c = crc;

    while (len && ((uintptr_t)p & 7)) {
        c = _mm_crc32_u8((uint32_t)c, *p++);
        len--;
    }
    /* Only past the threshold: short buffers, the common case for small records, would pay for
     * the calls and gain nothing. */
    if (len >= 3 * SHORT_BLOCK) {
        c = hw_triple(c, &p, &len, LONG_BLOCK, zeros_long);
        c = hw_triple(c, &p, &len, SHORT_BLOCK, zeros_short);
    }
    for (; len >= 8; p += 8, len -= 8)
        c = hw_word(c, p);
    while (len--)
        c = _mm_crc32_u8((uint32_t)c, *p++);
    return (uint32_t)c;
}
#endif

uint32_t zcq_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&init_once, init);
    return ~sw_update(~crc, buf, len);
}

uint32_t zcq_crc32c(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&init_once, init);
#if defined(__x86_64__)
    if (use_hw)
        return ~hw_update(~crc, buf, len);
#endif
    return ~sw_update(~crc, buf, len);
}

int zcq_crc32c_hw(void)
{
    pthread_once(&init_once, init);
#if defined(__x86_64__)
    return use_hw;
#else
    return 0;
#endif
}
