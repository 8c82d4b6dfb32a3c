/*
 * Small durable files replaced atomically: write "<name>.tmp", fsync it, rename it over
 * <name>, fsync the directory. The content is a line of text, "zcq-checkpoint 1 <n> v1 .. vn"
 * followed by the CRC-32C of that line in hex, so a torn or foreign file is detected and
 * treated as missing (the caller falls back to the safe value), never trusted and never a
 * crash.
 *
 * Contract: no state; errors are -errno (write side) and -ENOENT/-EBADMSG (read side).
 */
#ifndef ZCQ_STORE_CHECKPOINT_H
#define ZCQ_STORE_CHECKPOINT_H

#include <stdint.h>

#define ZCQ_CHECKPOINT_MAX 8

int zcq_checkpoint_write(int dirfd, const char *name, const int64_t *v, unsigned n);

/* The same without the directory fsync: the new file is synced and renamed in place, and the
 * rename becomes durable with the caller's next zcq_fsync_dir(dirfd) (one sync for it and the
 * caller's own name changes). Until then a crash leaves the old file or the new one. */
int zcq_checkpoint_stage(int dirfd, const char *name, const int64_t *v, unsigned n);

/* Read up to max values; returns how many, -ENOENT (missing) or -EBADMSG (damaged). */
int zcq_checkpoint_read(int dirfd, const char *name, int64_t *v, unsigned max);

/* fsync a directory: after create, rename and unlink, so the name change is durable. */
int zcq_fsync_dir(int dirfd);

#endif
