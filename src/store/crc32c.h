/*
 * CRC-32C (Castagnoli, polynomial 0x1EDC6F41, reflected), as Kafka record batches use it.
 * zcq_crc32c() is Intel ISA-L's crc32_iscsi (libisal), which picks the fastest code for the CPU
 * at run time; zcq_crc32c_sw() is an independent table-driven version kept as the reference
 * the tests compare it with. Both give identical results.
 *
 * Contract: pure functions, no allocation, thread-safe.
 */
#ifndef ZCQ_STORE_CRC32C_H
#define ZCQ_STORE_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* CRC of buf, continuing from crc (0 to start): zcq_crc32c(zcq_crc32c(0, a), b) equals the CRC
 * of a followed by b. */
uint32_t zcq_crc32c(uint32_t crc, const void *buf, size_t len);

/* The software version, whatever the CPU; for tests and for comparison. */
uint32_t zcq_crc32c_sw(uint32_t crc, const void *buf, size_t len);

/* 1 when the CPU has CRC-32C instructions (SSE 4.2), which ISA-L then uses. */
int zcq_crc32c_hw(void);

#endif
