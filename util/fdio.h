/* fdio: writing a whole buffer to a blocking fd. */
#ifndef AB_UTIL_FDIO_H
#define AB_UTIL_FDIO_H

#include <stddef.h>

/* Writes all `len` bytes of `buf` to `fd`, through short writes and EINTR.
 * Returns 0, or -1 with errno set. */
int fd_write_all(int fd, const void *buf, size_t len);

#endif
