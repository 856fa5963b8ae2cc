/* b64url: base64url without padding (RFC 4648 section 5), the encoding of JWT
 * segments and of a JWK's key members. */
#ifndef AB_PLUGIN_B64URL_H
#define AB_PLUGIN_B64URL_H

#include <stddef.h>

/* Decodes `len` characters. Returns a malloc'd buffer with one NUL byte after
 * the `*out_len` decoded bytes, or NULL when `in` is not strict base64url
 * (a character outside the alphabet, padding, an impossible length, or
 * non-zero bits left over) or memory ran out. */
unsigned char *b64url_decode(const char *in, size_t len, size_t *out_len);

#endif
