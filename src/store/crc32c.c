/* CRC-32C; see crc32c.h. */
#include "store/crc32c.h"

#include <endian.h>
#include <isa-l/crc.h>
#include <limits.h>
#include <pthread.h>
#include <string.h>

#define POLY 0x82f63b78u /* 0x1EDC6F41 bit-reversed: the CRC is computed LSB first */

/* Slicing-by-8: sw[k][n] is the CRC register after byte n followed by k zero bytes, so eight
 * lookups advance the register by a whole 64-bit word. */
static uint32_t sw[8][256];

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

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

uint32_t zcq_crc32c_sw(uint32_t crc, const void *buf, size_t len)
{
    pthread_once(&init_once, init);
    return ~sw_update(~crc, buf, len);
}

uint32_t zcq_crc32c(uint32_t crc, const void *buf, size_t len)
{
    /* ISA-L's crc32_iscsi takes and returns the raw register (no inversions) and an int
     * length; it picks its own code for the CPU (PCLMULQDQ/VPCLMULQDQ folding where present:
     * 2.5x the crc32-instruction code this replaced on 1 MiB, docs/storage.md). */
    unsigned char *p = (unsigned char *)buf;
    uint32_t r = ~crc;

    while (len > 0) {
        int n = len > (size_t)INT_MAX ? INT_MAX & ~63 : (int)len;

        r = crc32_iscsi(p, n, r);
        p += n;
        len -= (size_t)n;
    }
    return ~r;
}

int zcq_crc32c_hw(void)
{
#if defined(__x86_64__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("sse4.2") != 0;
#else
    return 0;
#endif
}
