/* bench/measure: clocks and summaries for the benchmarks. */
#include "bench/measure.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test/harness.h"

int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* CPU time of every thread of `pid`, in ns. */
int64_t cpu_ns(pid_t pid)
{
	char path[64], line[512];
	int64_t total = 0;
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof path, "/proc/%d/task", (int)pid);
	d = opendir(path);
	while (d && (e = readdir(d)) != NULL) {
		FILE *f;
		long long ns;

		if (e->d_name[0] == '.')
			continue;
		snprintf(line, sizeof line, "%s/%s/schedstat", path, e->d_name);
		f = fopen(line, "r");
		if (f && fscanf(f, "%lld", &ns) == 1)
			total += ns;
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
	return total;
}

static int cmp64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

void summarise(struct result *r, int64_t *lat, int n, int64_t cpu)
{
	int64_t sum = 0;

	for (int i = 0; i < n; i++)
		sum += lat[i];
	qsort(lat, (size_t)n, sizeof *lat, cmp64);
	r->mean_us = (double)sum / n / 1000.0;
	r->p50_us = (double)lat[n / 2] / 1000.0;
	r->p90_us = (double)lat[n * 90 / 100] / 1000.0;
	r->p99_us = (double)lat[n * 99 / 100] / 1000.0;
	r->max_us = (double)lat[n - 1] / 1000.0;
	r->cpu_us = cpu < 0 ? -1 : (double)cpu / n / 1000.0;
}

void need(void *p, const char *what)
{
	if (!p) {
		fprintf(stderr, "bench: no %s within %d ms\n", what, TH_TIMEOUT_MS);
		exit(1);
	}
}


long long io_write_bytes(pid_t pid)
{
	return th_proc_field(pid, "io", "write_bytes");
}

/* perf starts with its counters disabled and says "ack" once they are
 * enabled, so nothing before or after the measured stretch is counted. */
void sync_count_start(struct sync_counter *c, pid_t target)
{
	char ctl[96], ack[96], out[96], pid[16], ctl_arg[224], buf[8];
	int fd;

	memset(c, 0, sizeof *c);
	snprintf(c->dir, sizeof c->dir, "/tmp/bench-perf-XXXXXX");
	if (access("/usr/bin/perf", X_OK) != 0 || !mkdtemp(c->dir))
		return;
	snprintf(ctl, sizeof ctl, "%s/ctl", c->dir);
	snprintf(ack, sizeof ack, "%s/ack", c->dir);
	snprintf(out, sizeof out, "%s/out", c->dir);
	snprintf(pid, sizeof pid, "%d", (int)target);
	snprintf(ctl_arg, sizeof ctl_arg, "fifo:%s,%s", ctl, ack);
	if (mkfifo(ctl, 0600) != 0 || mkfifo(ack, 0600) != 0)
		return;
	c->perf = fork();
	if (c->perf == 0) {
		execl("/usr/bin/perf", "perf", "stat", "-x", ",", "-D", "-1", "--control", ctl_arg,
		      "-e", "syscalls:sys_enter_fsync,syscalls:sys_enter_fdatasync", "-o", out, "-p",
		      pid, (char *)NULL);
		_exit(127);
	}
	fd = open(ctl, O_WRONLY);
	if (fd < 0 || write(fd, "enable\n", 7) != 7) {
		if (fd >= 0)
			close(fd);
		sync_count_stop(c);
		c->perf = 0;
		return;
	}
	close(fd);
	fd = open(ack, O_RDONLY);
	if (fd >= 0) {
		if (read(fd, buf, sizeof buf) <= 0)
			c->perf = 0;
		close(fd);
	}
}

long sync_count_stop(struct sync_counter *c)
{
	char path[96], line[256];
	long total = -1, n;
	int status;
	FILE *f;

	if (c->perf <= 0)
		return -1;
	kill(c->perf, SIGINT);
	waitpid(c->perf, &status, 0);
	snprintf(path, sizeof path, "%s/out", c->dir);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof line, f))
		if (sscanf(line, "%ld,", &n) == 1)
			total = (total < 0 ? 0 : total) + n;
	if (f)
		fclose(f);
	unlink(path);
	snprintf(path, sizeof path, "%s/ctl", c->dir);
	unlink(path);
	snprintf(path, sizeof path, "%s/ack", c->dir);
	unlink(path);
	rmdir(c->dir);
	c->perf = 0;
	return total;
}
