/* Kafka error codes for zcq's errors; see kerr.h. */
#include "proto/kerr.h"

#include "broker/topics.h"
#include "store/batch.h"
#include "store/log.h"

#include <errno.h>

int16_t zcq_kerr_of(int err)
{
    switch (err) {
    case 0:
        return KERR_NONE;
    case ZCQ_BATCH_EMAGIC:
        return KERR_UNSUPPORTED_FOR_MESSAGE_FORMAT;
    case ZCQ_BATCH_ECONTROL:
        return KERR_INVALID_RECORD;
    case ZCQ_BATCH_ETRUNC:
    case ZCQ_BATCH_ELENGTH:
    case ZCQ_BATCH_ECRC:
    case ZCQ_BATCH_ECOUNT:
    case ZCQ_BATCH_ERECORD:
    case ZCQ_BATCH_ECOMPRESSION:
        return KERR_CORRUPT_MESSAGE;
    case ZCQ_LOG_ETOOLARGE:
        return KERR_MESSAGE_TOO_LARGE;
    case ZCQ_LOG_EOUTOFRANGE:
        return KERR_OFFSET_OUT_OF_RANGE;
    case ZCQ_TOPIC_EUNKNOWN:
        return KERR_UNKNOWN_TOPIC_OR_PARTITION;
    case ZCQ_TOPIC_EEXISTS:
        return KERR_TOPIC_ALREADY_EXISTS;
    case ZCQ_TOPIC_EINVALID:
        return KERR_INVALID_TOPIC_EXCEPTION;
    case ZCQ_TOPIC_EPARTITIONS:
        return KERR_INVALID_PARTITIONS;
    case ZCQ_TOPIC_ECONFIG:
        return KERR_INVALID_CONFIG;
    case -EIO:
    case -ENOSPC:
    case -EDQUOT:
    case -EROFS:
    case -EUCLEAN:
        return KERR_KAFKA_STORAGE_ERROR;
    default:
        return KERR_UNKNOWN_SERVER_ERROR;
    }
}
