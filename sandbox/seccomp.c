/* sandbox/seccomp: everything is allowed except what only an escape needs:
 * debugging other processes, mounting, loading kernels and modules, new user
 * namespaces (which would hand the turn capabilities again), the kernel's
 * key store and BPF, and pushing input into a terminal. Refused calls fail
 * with EPERM, so a CLI that merely probes for one carries on. clone3 fails
 * with ENOSYS: its flags are behind a pointer the filter cannot read, and
 * libc falls back to clone, whose flags it can. */
#include "sandbox/seccomp.h"

#include <errno.h>
#include <sched.h>
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

static const char *const refused[] = {
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp",
	"mount", "umount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree",
	"fsopen", "fsconfig", "fsmount", "fspick", "mount_setattr",
	"setns", "kexec_load", "kexec_file_load", "init_module", "finit_module",
	"delete_module", "reboot", "swapon", "swapoff", "acct", "quotactl",
	"bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key",
	"open_by_handle_at", "name_to_handle_at", "lookup_dcookie", "iopl", "ioperm",
	"settimeofday", "clock_settime", "clock_adjtime", "adjtimex", "syslog",
	"vhangup", "nfsservctl", "uselib",
};

static int add_rules(scmp_filter_ctx ctx)
{
	int rc = 0;

	for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
		int nr = seccomp_syscall_resolve_name(refused[i]);

		/* A call this architecture does not have needs no rule. */
		if (nr != __NR_SCMP_ERROR)
			rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
	}
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
			       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
			       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWUSER, CLONE_NEWUSER));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
			       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCSTI));
	rc |= seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(ioctl), 1,
			       SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, TIOCLINUX));
	return rc == 0 ? 0 : -1;
}

/* libseccomp writes BPF only to an fd: a memfd, read back. */
static int export_bpf(scmp_filter_ctx ctx, unsigned char **bpf, size_t *len)
{
	int fd = memfd_create("agentbus-seccomp", MFD_CLOEXEC);
	off_t size;
	ssize_t n;

	*bpf = NULL;
	if (fd < 0)
		return -1;
	if (seccomp_export_bpf(ctx, fd) != 0 || (size = lseek(fd, 0, SEEK_END)) <= 0 ||
	    !(*bpf = malloc((size_t)size)) ||
	    (n = pread(fd, *bpf, (size_t)size, 0)) != (ssize_t)size) {
		free(*bpf);
		*bpf = NULL;
		close(fd);
		return -1;
	}
	*len = (size_t)size;
	close(fd);
	return 0;
}

int sandbox_seccomp_build(unsigned char **bpf, size_t *len, char *err, size_t errlen)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
	int rc = -1;

	/* Another architecture's calls (x32, i386 on x86_64) dodge every rule
	 * above; the filter's default for them is to kill. */
	if (!ctx)
		snprintf(err, errlen, "seccomp_init failed");
	else if (add_rules(ctx) != 0)
		snprintf(err, errlen, "a seccomp rule could not be added");
	else if (export_bpf(ctx, bpf, len) != 0)
		snprintf(err, errlen, "the seccomp filter could not be exported: %s",
			 strerror(errno));
	else
		rc = 0;
	if (ctx)
		seccomp_release(ctx);
	return rc;
}
