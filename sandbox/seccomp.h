/* sandbox/seccomp: the system-call filter every sandboxed turn runs under,
 * built once with libseccomp and handed to bubblewrap as compiled BPF. */
#ifndef AB_SANDBOX_SECCOMP_H
#define AB_SANDBOX_SECCOMP_H

#include <stddef.h>

/* The filter as BPF (a struct sock_filter array) in `*bpf` (malloc'd), its
 * size in `*len`. Returns 0, or -1 with a message in `err`. */
int sandbox_seccomp_build(unsigned char **bpf, size_t *len, char *err, size_t errlen);

#endif
