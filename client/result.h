/*
 * result.h -- decode a response into the caller's portq_result_t: one
 * allocation holding the result, its records and copies of every string.
 */
#ifndef PORTQ_CLIENT_RESULT_H
#define PORTQ_CLIENT_RESULT_H

#include <stddef.h>
#include <stdint.h>

#include "msg.h"
#include "portq.h"

/*
 * Decode msg[0..len), an answer with RCODE OK or NOT-FOUND, into a new
 * result. `server` is copied into it. Returns PORTQ_OK, PORTQ_EMALFORMED
 * (the counts, the records or the context break the protocol, or bytes
 * follow the last record that are not, over UDP (!tcp), zero padding) or
 * PORTQ_ENOMEM. On PORTQ_OK, *used (unless NULL) is the answer's length
 * without its padding: what is worth keeping, in a cache for instance.
 */
int result_decode(const uint8_t *msg, size_t len, const char *server, int tcp,
                  portq_result_t **out, size_t *used);

/* The same for a message whose header the caller has read already, into
 * *h (the engine, matching the answer to its query): not read again. */
int result_decode_reply(const portq_header_t *h, const uint8_t *msg, size_t len,
                        const char *server, int tcp, portq_result_t **out, size_t *used);

#endif /* PORTQ_CLIENT_RESULT_H */
