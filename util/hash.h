/* hash: FNV-1a, for identities that must be the same in every run (thread
 * note ids, digests of redelivered messages). Not for anything an attacker
 * could profit from colliding. */
#ifndef AB_UTIL_HASH_H
#define AB_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>

#define HASH_FNV_SEED 0xcbf29ce484222325ULL

/* Continues the FNV-1a 64 hash `h` over `len` bytes of `data`. */
uint64_t hash_fnv1a(uint64_t h, const void *data, size_t len);

/* The same over `len` bytes of `data` with ASCII letters folded to lower
 * case: "Budget" and "budget" hash alike, as the vault's paths compare. */
uint64_t hash_fnv1a_nocase(uint64_t h, const char *data, size_t len);

/* 26 characters of Crockford base32 naming `len` bytes of `data` without
 * regard to ASCII case (two seeds, 128 bits), NUL-terminated. */
void hash_id_nocase(const char *data, size_t len, char out[27]);
/* The same for the bytes of "a|b", case kept, without building it. */
void hash_id_join(const char *a, const char *b, char out[27]);

#endif
